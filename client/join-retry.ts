// join(): the first join of a room, retried by itself when the service is
// busy. A crowd behind one address (an office NAT) shares the service's
// per-address limits, and an overloaded service may not answer in time, so
// a join refused with RATE_LIMITED, unanswered (TIMEOUT) or not served
// (ROOM_UNAVAILABLE) is tried again, under a new id, after a jittered
// backoff, up to maxAttempts join requests in all (each with its own
// resends). Any other refusal is final.
//
// A `joined` for an earlier attempt that arrives after its request gave up
// is adopted (adopt()): it is as good as the attempt still waiting. The
// attempt on the wire at that moment is left to the owner (inFlight; a
// `joined` it brings goes to orphaned()), since the service may have
// replaced the adopted membership with it.
import type { Clock } from '../lib/clock.js';
import type { JoinedReply } from '../lib/wire.js';
import { ClientError } from './client-error.js';
import { JoinLoop } from './join-loop.js';
import type { RejoinPolicy } from './options.js';
import { rejoinDelay } from './rejoin.js';

/** Failures that say "not now" rather than "no". */
export const RETRY_JOIN_CODES: ReadonlySet<string> = new Set(['RATE_LIMITED', 'TIMEOUT', 'ROOM_UNAVAILABLE']);

export interface JoinRetryDeps {
  clock: Clock;
  /** Backoff between join requests (initialMs doubling to maxMs, ±20%) and how many are sent in all. */
  policy: Readonly<RejoinPolicy>;
  random: () => number;
  /** Sends one join request (a new id). */
  join(): Promise<JoinedReply>;
  /** A `joined` for an attempt that was on the wire when the join had already ended (adopted, or cancelled). */
  orphaned(joined: JoinedReply): void;
}

export class JoinRetry extends JoinLoop {
  attempt = 0;
  readonly done: Promise<JoinedReply>;
  private resolve!: (j: JoinedReply) => void;
  private reject!: (e: ClientError) => void;

  constructor(private readonly d: JoinRetryDeps) {
    super(d.clock);
    this.done = new Promise<JoinedReply>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
  }

  start(): Promise<JoinedReply> {
    void this.run();
    return this.done;
  }

  /** A late `joined` of an earlier attempt: the join succeeds with it. False if the join has ended already. */
  adopt(joined: JoinedReply): boolean {
    if (this.stopped) return false;
    this.stop();
    this.resolve(joined);
    return true;
  }

  /** Ends the join with err (the client is closing); an attempt on the wire goes to orphaned() if it succeeds. */
  cancel(err: ClientError): void {
    if (this.stopped) return;
    this.stop();
    this.reject(err);
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.attempt++;
    const out = await this.tryJoin(() => this.d.join());
    if (this.stopped) {
      if ('joined' in out) this.d.orphaned(out.joined);
      return;
    }
    if ('joined' in out) {
      this.stop();
      return this.resolve(out.joined);
    }
    if (!RETRY_JOIN_CODES.has(out.error.code) || this.attempt >= this.d.policy.maxAttempts) {
      this.stop();
      return this.reject(out.error);
    }
    this.after(rejoinDelay(this.d.policy, this.attempt, this.d.random), () => void this.run());
  }
}
