// Anti-amplification (protocol "Anti-amplification"): until an endpoint has
// proven its address, everything sent in reply to one request sums to at most
// 3x that request's size.
import { encode } from './codec.js';
import { ERROR_CODES, type ErrorInfo } from './errors.js';
import { errorEvent } from './wire.js';

export const AMPLIFICATION_FACTOR = 3;

export class ReplyBudget {
  private left: number;

  constructor(requestBytes: number, proven: boolean) {
    this.left = proven ? Number.POSITIVE_INFINITY : AMPLIFICATION_FACTOR * requestBytes;
  }

  /** Reserves n bytes if they fit; false means the datagram must not be sent. */
  take(n: number): boolean {
    if (n > this.left) return false;
    this.left -= n;
    return true;
  }

  get remaining(): number {
    return this.left;
  }
}

/**
 * Encodes an error reply that fits the budget: the detailed message if it
 * fits, else the catalogue's short one, else nothing (tiny garbage is
 * dropped silently). Takes the bytes from the budget when it returns one.
 */
export function fitError(budget: ReplyBudget, e: ErrorInfo, reqId: string | undefined): Buffer | undefined {
  const full = encode(errorEvent(e.code, e.message, reqId));
  if (budget.take(full.length)) return full;
  if (e.message === ERROR_CODES[e.code]) return undefined;
  const short = encode(errorEvent(e.code, ERROR_CODES[e.code], reqId));
  return budget.take(short.length) ? short : undefined;
}
