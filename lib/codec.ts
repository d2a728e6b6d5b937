// Datagram <-> JSON. Client datagrams hold exactly one object (protocol
// "Transport"); server datagrams hold one or more objects joined by "\n".
import { isUtf8 } from 'node:buffer';
import { errorInfo, type ErrorInfo } from './errors.js';
import { isPlainObject } from './schema.js';

export type Decoded = { ok: true; value: Record<string, unknown> } | { ok: false; error: ErrorInfo };

/**
 * Size first (a datagram of exactly maxBytes is accepted), then UTF-8, then
 * JSON. JSON.parse rejects two concatenated objects, so "exactly one object
 * per datagram" needs no extra check; surrounding whitespace is accepted.
 */
export function decodeDatagram(buf: Buffer, maxBytes: number): Decoded {
  if (buf.length > maxBytes) return { ok: false, error: errorInfo('TOO_LARGE', `datagram over ${maxBytes} bytes`) };
  if (!isUtf8(buf)) return { ok: false, error: errorInfo('BAD_REQUEST', 'datagram is not valid UTF-8') };
  let v: unknown;
  try {
    v = JSON.parse(buf.toString('utf8'));
  } catch {
    return { ok: false, error: errorInfo('BAD_REQUEST', 'datagram is not one JSON object') };
  }
  if (!isPlainObject(v)) return { ok: false, error: errorInfo('BAD_REQUEST', 'datagram is not a JSON object') };
  return { ok: true, value: v };
}

export function encode(message: object): Buffer {
  return Buffer.from(JSON.stringify(message), 'utf8');
}

const NEWLINE = Buffer.from('\n');

/**
 * Packs encoded objects, in order, into datagrams of at most maxBytes, each a
 * list of buffers for socket.send's scatter/gather (no copy). An object larger
 * than maxBytes on its own is never produced by the service (senders refuse
 * it first); if one slips through it goes alone rather than being lost.
 */
export function pack(objects: readonly Buffer[], maxBytes: number): Buffer[][] {
  const out: Buffer[][] = [];
  let cur: Buffer[] = [];
  let size = 0;
  for (const o of objects) {
    const add = cur.length === 0 ? o.length : o.length + 1;
    if (cur.length > 0 && size + add > maxBytes) {
      out.push(cur);
      cur = [];
      size = 0;
    }
    if (cur.length > 0) cur.push(NEWLINE);
    cur.push(o);
    size += cur.length === 1 ? o.length : o.length + 1;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Splits a server datagram into its objects; lines that do not parse are reported as null. */
export function splitServerDatagram(buf: Buffer): Array<Record<string, unknown> | null> {
  const out: Array<Record<string, unknown> | null> = [];
  for (const line of buf.toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    try {
      const v: unknown = JSON.parse(line);
      out.push(isPlainObject(v) ? v : null);
    } catch {
      out.push(null);
    }
  }
  return out;
}
