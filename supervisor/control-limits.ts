// Control-plane limits, by source address (lib/config.ts documents each
// number): token buckets for floods, joins of existing rooms, room creation,
// wrong keys and error replies, a count of the memberships each address has
// not proven yet, and a bound on the joins and leaves one endpoint may have
// in progress. Over a limit, a request is refused (RATE_LIMITED, by its
// handler) or dropped unanswered (SilentDrop). Addresses in
// limitExemptCidrs skip every per-address limit, as IRC servers exempt
// trusted networks from their connection throttles.
import { Networks } from '../lib/cidr.js';
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
  readonly unproven: UnprovenTally;
  /** Whether the address is in limitExemptCidrs. */
  exempt(address: string): boolean;
  /** A config reload: new rates, bursts and exempt networks (KeyedBuckets.retune). */
  retune(c: Config): void;
}

export function createControlLimits(clock: Clock, c: Config): ControlLimits {
  let networks = new Networks(c.limitExemptCidrs);
  const exempt = (address: string) => networks.has(address);
  const buckets = (ratePerSec: number, burst: number) => new KeyedBuckets(clock, ratePerSec, burst, undefined, exempt);
  const limits = {
    control: buckets(c.controlRatePerSec, c.controlBurst),
    join: buckets(c.joinRatePerSec, c.joinBurst),
    create: buckets(c.roomCreateRatePerSec, c.roomCreateBurst),
    badKey: buckets(c.badKeyRatePerSec, c.badKeyBurst),
    errorReply: buckets(c.errorReplyRatePerSec, c.errorReplyBurst),
    unproven: new UnprovenTally(),
    exempt,
    retune(n: Config): void {
      networks = new Networks(n.limitExemptCidrs);
      limits.control.retune(n.controlRatePerSec, n.controlBurst);
      limits.join.retune(n.joinRatePerSec, n.joinBurst);
      limits.create.retune(n.roomCreateRatePerSec, n.roomCreateBurst);
      limits.badKey.retune(n.badKeyRatePerSec, n.badKeyBurst);
      limits.errorReply.retune(n.errorReplyRatePerSec, n.errorReplyBurst);
    },
  };
  return limits;
}

/**
 * Memberships per source address that have not proven it yet, joins in
 * progress included (maxUnprovenPerAddress). Only addresses with some are
 * kept, so its size is bounded by the memberships and joins that exist.
 */
export class UnprovenTally {
  private readonly counts = new Map<string, number>();

  count(address: string): number {
    return this.counts.get(address) ?? 0;
  }

  add(address: string): void {
    this.counts.set(address, this.count(address) + 1);
  }

  /** One fewer: it proved its address, left, was replaced, or its join failed. */
  sub(address: string): void {
    const n = this.count(address) - 1;
    if (n <= 0) this.counts.delete(address);
    else this.counts.set(address, n);
  }

  get size(): number {
    return this.counts.size;
  }
}

/** Joins and leaves in progress per endpoint (maxPendingPerEndpoint). */
export class PendingBound {
  private readonly pending = new Map<string, number>();

  /** Not readonly: a config reload sets it (in-progress requests above a lowered bound finish). */
  constructor(public maxPendingPerEndpoint: number) {}

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
