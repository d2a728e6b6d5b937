// Anti-amplification (protocol "Anti-amplification"): until an endpoint has
// proven its address, everything sent in reply to one request sums to at most
// 3x that request's size.
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
