// Token buckets by key (a source address), bounded in number: past maxKeys
// the least recently used bucket is forgotten, so a spoofed-address flood
// costs bounded memory (a forgotten bucket starts full again: the price of
// the bound).
import type { Clock } from './clock.js';
import { TokenBucket } from './token-bucket.js';

export class KeyedBuckets {
  private readonly buckets = new Map<string, TokenBucket>();

  constructor(
    private readonly clock: Clock,
    private ratePerSec: number,
    private burst: number,
    private readonly maxKeys = 10_000,
    /** Keys that are never limited (and get no bucket). */
    private readonly exempt?: (key: string) => boolean,
  ) {}

  take(key: string): boolean {
    if (this.exempt?.(key)) return true;
    return this.bucket(key).take(this.clock.now());
  }

  /** Whether the key has a token, without taking it (an unknown key has a full bucket). */
  has(key: string): boolean {
    if (this.exempt?.(key)) return true;
    const b = this.buckets.get(key);
    return b === undefined || b.has(this.clock.now());
  }

  /** New limits (a config reload), for the buckets held (TokenBucket.retune) and those made from now on. */
  retune(ratePerSec: number, burst: number): void {
    this.ratePerSec = ratePerSec;
    this.burst = burst;
    const now = this.clock.now();
    for (const b of this.buckets.values()) b.retune(ratePerSec, burst, now);
  }

  private bucket(key: string): TokenBucket {
    const now = this.clock.now();
    let b = this.buckets.get(key);
    if (b) {
      this.buckets.delete(key); // re-insert: Map order is recency
    } else {
      b = new TokenBucket(this.ratePerSec, this.burst, now);
      if (this.buckets.size >= this.maxKeys) this.buckets.delete(this.buckets.keys().next().value!);
    }
    this.buckets.set(key, b);
    return b;
  }

  get size(): number {
    return this.buckets.size;
  }
}
