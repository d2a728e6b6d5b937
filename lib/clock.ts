// Time is injected wherever behaviour depends on it (heartbeats, idempotence
// windows, rate limits, restart windows, retries), so tests drive it instead
// of sleeping.
//
// Two readings, because the wall clock can be stepped (NTP, an operator,
// a VM resumed from a snapshot): an hour's step forward would evict every
// member at once and a step back would freeze rate limits and keep dead
// members. Every interval, deadline and rate uses `now()`, the monotonic
// clock; the wall clock is read only for timestamps people see (`ts`).
export interface Timer {
  unref?(): unknown;
}

export interface Clock {
  /**
   * Monotonic milliseconds (CLOCK_MONOTONIC): never stepped, and the same
   * reading in every process of this machine, so the supervisor and its
   * rooms can compare times they hand each other.
   */
  now(): number;
  /** Wall-clock epoch milliseconds: only for timestamps shown to people. */
  wall(): number;
  setTimeout(fn: () => void, ms: number): Timer;
  clearTimeout(t: Timer): void;
}

export const systemClock: Clock = {
  now: monotonicMs,
  wall: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

/** libuv's uv_hrtime: clock_gettime(CLOCK_MONOTONIC), whole milliseconds. */
export function monotonicMs(): number {
  const [s, ns] = process.hrtime();
  return s * 1_000 + Math.floor(ns / 1_000_000);
}

interface Pending {
  at: number;
  order: number;
  fn: () => void;
  cancelled: boolean;
}

/**
 * A clock that moves only when told to; timers fire in time order during
 * advance(). The wall clock follows the monotonic one until stepWall()
 * moves it alone, as a clock step does.
 */
export class ManualClock implements Clock {
  private t: number;
  private wallOffset = 0;
  private order = 0;
  private pending: Pending[] = [];

  constructor(start = 1_700_000_000_000) {
    this.t = start;
  }

  now(): number {
    return this.t;
  }

  wall(): number {
    return this.t + this.wallOffset;
  }

  /** Steps the wall clock by ms (either way); monotonic time and timers do not move. */
  stepWall(ms: number): void {
    this.wallOffset += ms;
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
