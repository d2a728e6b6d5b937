// Paged reads (`rooms`, `who`): ask page after page, each continuing `after`
// the last entry of the previous one, until `more` is false. Bounded in
// pages, and every page must move forward, so a broken server cannot keep
// the client looping.
import { encode } from '../lib/codec.js';
import { clientError } from './client-error.js';

/** No real service has this many pages; beyond it the reply is treated as broken. */
export const MAX_PAGES = 10_000;

export interface Page<E> {
  entries: readonly E[];
  more: boolean;
}

export async function collectPages<E>(
  fetchPage: (after: string | undefined) => Promise<Page<E>>,
  keyOf: (e: E) => string,
): Promise<E[]> {
  const all: E[] = [];
  let after: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const page = await fetchPage(after);
    all.push(...page.entries);
    if (!page.more) return all;
    const last = page.entries.at(-1);
    if (last === undefined) throw clientError('BAD_REPLY', 'an empty page said more follow');
    const key = keyOf(last);
    if (after !== undefined && key <= after) throw clientError('BAD_REPLY', 'a page did not move forward');
    after = key;
  }
  throw clientError('BAD_REPLY', `more than ${MAX_PAGES} pages`);
}

/**
 * Encodes a request padded with a `pad` string field to targetBytes, so the
 * anti-amplification budget (3x the request) allows a full page (protocol
 * "Anti-amplification": clients that want larger pages pad the request).
 */
export function encodePadded(obj: Record<string, unknown>, targetBytes: number): Buffer {
  const short = encode({ ...obj, pad: '' }).length;
  if (short >= targetBytes) return encode(obj);
  return encode({ ...obj, pad: 'x'.repeat(targetBytes - short) });
}
