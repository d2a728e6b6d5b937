// Idempotence (protocol "Requests and idempotence"): the successful outcome of
// a state-changing request is kept for the window and replayed to retries.
// Bounded: when full, the oldest entries go first, so a flood of ids can cost
// memory only up to maxEntries.
import type { Clock } from './clock.js';

export class ReplayCache<V> {
  private readonly entries = new Map<string, { value: V; expires: number }>();
  private readonly inFlight = new Set<string>();

  constructor(
    private readonly clock: Clock,
    private readonly windowMs: number,
    private readonly maxEntries: number,
  ) {}

  get(key: string): V | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expires <= this.clock.now()) {
      this.entries.delete(key);
      return undefined;
    }
    return e.value;
  }

  set(key: string, value: V): void {
    this.entries.delete(key); // re-insert so Map order stays oldest-first
    this.entries.set(key, { value, expires: this.clock.now() + this.windowMs });
    this.prune();
  }

  /** Marks a request as being handled; false if it already is (a retry to drop). */
  begin(key: string): boolean {
    if (this.inFlight.has(key)) return false;
    this.inFlight.add(key);
    return true;
  }

  end(key: string): void {
    this.inFlight.delete(key);
  }

  get size(): number {
    return this.entries.size;
  }

  private prune(): void {
    const now = this.clock.now();
    for (const [k, e] of this.entries) {
      if (this.entries.size > this.maxEntries || e.expires <= now) this.entries.delete(k);
      else break; // insertion order = expiry order, so the rest are newer
    }
  }
}
