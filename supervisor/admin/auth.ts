// The admin token check: `Authorization: Bearer <adminToken>`, compared in
// constant time. Both sides are hashed first: timingSafeEqual needs equal
// lengths, and comparing digests leaks neither the token nor its length.
import { createHash, timingSafeEqual } from 'node:crypto';

export function bearerMatches(header: string | undefined, token: string): boolean {
  const m = /^Bearer +(\S+) *$/i.exec(header ?? '');
  const given = m?.[1] ?? '';
  const same = timingSafeEqual(digest(given), digest(token));
  return same && given !== '';
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s, 'utf8').digest();
}
