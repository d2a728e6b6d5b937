// Control-plane limits, by source address (lib/config.ts documents each
// number): token buckets for floods, joins, room creation, wrong keys and
// error replies, and a bound on the joins and leaves one endpoint may have in
// progress. Over a limit, a request is refused (RATE_LIMITED, by its handler)
// or dropped unanswered (SilentDrop).
import type { Clock } from '../lib/clock.js';
import type { Config } from '../lib/config.js';
import { KeyedBuckets } from '../lib/keyed-buckets.js';

/** A request dropped on purpose, unanswered (a flood, a key guesser); logged at a bounded rate. */
export class SilentDrop extends Error {
  constructor(
    readonly event: string,
    message: string,
  ) {
    super(message);
  }
}

export interface ControlLimits {
  readonly control: KeyedBuckets;
  readonly join: KeyedBuckets;
  readonly create: KeyedBuckets;
  readonly badKey: KeyedBuckets;
  readonly errorReply: KeyedBuckets;
}

export function createControlLimits(clock: Clock, c: Config): ControlLimits {
  return {
    control: new KeyedBuckets(clock, c.controlRatePerSec, c.controlBurst),
    join: new KeyedBuckets(clock, c.joinRatePerSec, c.joinBurst),
    create: new KeyedBuckets(clock, c.roomCreateRatePerSec, c.roomCreateBurst),
    badKey: new KeyedBuckets(clock, c.badKeyRatePerSec, c.badKeyBurst),
    errorReply: new KeyedBuckets(clock, c.errorReplyRatePerSec, c.errorReplyBurst),
  };
}

/** Joins and leaves in progress per endpoint (maxPendingPerEndpoint). */
export class PendingBound {
  private readonly pending = new Map<string, number>();

  constructor(private readonly maxPendingPerEndpoint: number) {}

  /**
   * Runs a join or leave of one endpoint, bounded in number per endpoint:
   * past maxPendingPerEndpoint the request is dropped (a retry flood; the
   * requests in progress will answer).
   */
  async run<T>(endpoint: string, fn: () => Promise<T>): Promise<T> {
    const n = this.pending.get(endpoint) ?? 0;
    if (n >= this.maxPendingPerEndpoint) throw new SilentDrop('pending_limit', 'too many requests in progress from one endpoint: dropped');
    this.pending.set(endpoint, n + 1);
    try {
      return await fn();
    } finally {
      const left = (this.pending.get(endpoint) ?? 1) - 1;
      if (left <= 0) this.pending.delete(endpoint);
      else this.pending.set(endpoint, left);
    }
  }
}
