// Time is injected wherever behaviour depends on it (heartbeats, idempotence
// windows, retries), so tests drive it instead of sleeping.
export interface Timer {
  unref?(): unknown;
}

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(t: Timer): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

interface Pending {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/** A clock that moves only when told to; timers fire in time order during advance(). */
export class ManualClock implements Clock {
  private t: number;
  private order = 0;
  private pending: Pending[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.t + Math.max(0, ms), order: this.order++, fn, cancelled: false };
    this.pending.push(p);
    return p as unknown as Timer;
  }

  clearTimeout(t: Timer): void {
    (t as unknown as Pending).cancelled = true;
  }

  /** Moves time forward by ms, firing every timer that falls due, in order. */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      this.pending = this.pending.filter((p) => !p.cancelled);
      let next: Pending | undefined;
      for (const p of this.pending) {
        if (p.at <= end && (!next || p.at < next.at || (p.at === next.at && p.order < next.order))) next = p;
      }
      if (!next) break;
      this.t = Math.max(this.t, next.at);
      next.cancelled = true;
      next.fn();
    }
    this.t = end;
  }

  get timerCount(): number {
    return this.pending.filter((p) => !p.cancelled).length;
  }
}
