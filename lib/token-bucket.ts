// A token bucket: `burst` tokens, refilled at `ratePerSec`. Time is passed
// in (the injected clock's now()), so rate limits test without sleeping.
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private ratePerSec: number,
    private burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /** Takes one token if there is one. */
  take(now: number): boolean {
    if (!this.has(now)) return false;
    this.tokens -= 1;
    return true;
  }

  /**
   * New limits for a bucket in use (a config reload): what it holds, refilled
   * at the old rate up to now, is kept up to the new burst. A lower limit
   * bites at once; a higher one is earned at the new rate, not handed out.
   */
  retune(ratePerSec: number, burst: number, now: number): void {
    this.has(now);
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    this.tokens = Math.min(this.tokens, burst);
  }

  /** Whether a token is there, without taking it. */
  has(now: number): boolean {
    if (now > this.last) {
      this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
      this.last = now;
    }
    return this.tokens >= 1;
  }
}
