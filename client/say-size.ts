// Whether a `say` fits the service's datagram limit, and how to split a text
// so that each part does. A datagram over the limit is refused by the room
// before it is parsed, so its error carries no request id: the client would
// only ever see TIMEOUT. Hence the client checks first. The size that counts
// is the larger of the say datagram and the `msg` event the room sends back
// (which repeats room, nick and member), both as JSON in UTF-8.
import { nanoid } from 'nanoid';

/** Room and membership details that end up in the say datagram and its msg. */
export interface SayFrame {
  room: string;
  nick: string;
  member: string;
  token: string;
}

// seq and ts are estimated with the most digits they can have, so the
// estimate never falls short of the msg the room will send.
const MAX_INT = Number.MAX_SAFE_INTEGER;

/** Bytes besides the text itself: the larger of the say datagram and the msg event, with an empty text. */
export function sayOverheadBytes(f: SayFrame): number {
  const id = nanoid();
  const say = Buffer.byteLength(JSON.stringify({ type: 'say', id, text: '', token: f.token }));
  const msg = Buffer.byteLength(JSON.stringify({ type: 'msg', room: f.room, seq: MAX_INT, member: f.member, nick: f.nick, text: '', ts: MAX_INT, id }));
  return Math.max(say, msg);
}

/** The bytes the text takes inside a JSON string (escapes included). */
export function textBytes(text: string): number {
  return Buffer.byteLength(JSON.stringify(text)) - 2;
}

/** The largest number of code points of `cps` (from `start`) whose JSON takes at most `budget` bytes. */
function fittingCount(cps: readonly string[], start: number, budget: number): number {
  let used = 0;
  let n = 0;
  for (let i = start; i < cps.length; i++) {
    const b = textBytes(cps[i]!);
    if (used + b > budget) break;
    used += b;
    n++;
  }
  return n;
}

/** How many characters (code points) of this text fit in `budget` bytes. */
export function maxCharsOf(text: string, budget: number): number {
  return fittingCount([...text], 0, budget);
}

/**
 * Splits a text into parts of at most `budget` JSON bytes each, on
 * code-point boundaries, at the last space of a part when there is one (the
 * space is dropped, as irssi does). Empty parts are never produced.
 */
export function splitText(text: string, budget: number): string[] {
  if (budget < 4) throw new RangeError('budget too small for one character');
  const cps = [...text];
  const parts: string[] = [];
  let i = 0;
  while (i < cps.length) {
    const n = fittingCount(cps, i, budget);
    if (i + n >= cps.length) {
      parts.push(cps.slice(i).join(''));
      break;
    }
    // A break at a space, unless it would leave a part under half the room it could have.
    let cut = i + n;
    let skip = 0;
    for (let j = i + n; j > i + Math.floor(n / 2); j--) {
      if (cps[j] === ' ') {
        cut = j;
        skip = 1;
        break;
      }
    }
    if (cut > i) parts.push(cps.slice(i, cut).join(''));
    i = cut + skip;
  }
  return parts;
}
