// Requests in flight, matched to replies by `id` and retried with the same
// `id` until answered (protocol "Requests and idempotence": the server
// replays the same reply to a retry and never applies it twice). Every
// request is bounded: maxAttempts sends, with delays doubling from the
// first retry delay up to a cap, then it fails with TIMEOUT. The first
// retry delay is max(retryInitialMs, RTO) (client/rtt.ts), taken when the
// request starts; a request answered on its first send is a round-trip
// sample (Karn's rule: one that was retried is not). A request answered
// after a resend is remembered for a while: a second answer means the
// resend was needless (the first send was answered, late), and backs the
// first delay off (RttEstimator.backoff).
import type { Clock, Timer } from '../lib/clock.js';
import type { ServerMessage } from '../lib/wire.js';
import { ClientError, clientError, serverError } from './client-error.js';
import { isFrom, type Endpoint } from './endpoint.js';
import { RETRY_CAP_MS, retryDelayMs, RttEstimator } from './rtt.js';
import { newCounters, type Counters } from './stats.js';
import type { RemoteInfo } from './transport.js';

/** How long a request answered after a resend is remembered, waiting for a second answer. */
const ANSWERED_KEEP_MS = 2 * RETRY_CAP_MS;
/** At most this many remembered (the oldest go first). */
const ANSWERED_MAX = 256;

export interface RequestSpec<T> {
  id: string;
  /** Sends one attempt (the same datagram every time). */
  send(): void;
  /** Endpoints a reply may come from. */
  sources: readonly Endpoint[];
  /** Returns the request's result when msg is its reply, undefined otherwise. */
  accept(msg: ServerMessage): T | undefined;
  /** The room the request belongs to, so it can be failed when the room goes. */
  room?: string;
  maxAttempts?: number;
  /**
   * Error codes that do not end the request: it goes on with its retries
   * (a room request that waits out a rejoin ignores NOT_MEMBER).
   */
  ignoreCodes?: readonly string[];
  /** Spared by failRoom(room, err, { spareWaiting: true }): the request waits for a new membership. */
  waitsForRejoin?: boolean;
  /**
   * Whether an answer to the first send is a round-trip sample (default
   * true). Off for requests whose answer waits on more than the path: a
   * join may wait for a room process to start.
   */
  measureRtt?: boolean;
  /**
   * A random source in [0, 1): each resend delay is scaled by a factor in
   * 1 ± RESEND_JITTER, so a crowd refused or unanswered at once does not
   * come back at once. Without it the schedule is exact.
   */
  jitter?: () => number;
}

export const RESEND_JITTER = 0.2;

/** A request answered after a resend, whose other sends may still be answered. */
interface Answered {
  firstDelay: number;
  sources: readonly Endpoint[];
  accept(msg: ServerMessage): unknown;
  at: number;
}

interface Pending {
  spec: RequestSpec<unknown>;
  attempts: number;
  maxAttempts: number;
  /** The first retry delay, fixed when the request starts. */
  firstDelay: number;
  /** When the first attempt went out. */
  sentAt: number;
  /** Resent to a new membership (resendRoom): its answer says nothing about the round trip. */
  resent: boolean;
  /** Its answer was taken into the round-trip estimate already (a RATE_LIMITED answer, then the reply). */
  measured: boolean;
  timer: Timer | undefined;
  /** A RATE_LIMITED answer: the request is retried on its schedule and fails with this only when attempts run out. */
  limited: ClientError | undefined;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class Requests {
  private readonly pending = new Map<string, Pending>();
  private readonly answered = new Map<string, Answered>();
  readonly rtt: RttEstimator;
  readonly counters: Counters;

  constructor(
    private readonly clock: Clock,
    retryInitialMs: number,
    private readonly maxAttempts: number,
    shared: { rtt?: RttEstimator; counters?: Counters } = {},
  ) {
    this.rtt = shared.rtt ?? new RttEstimator(retryInitialMs);
    this.counters = shared.counters ?? newCounters();
  }

  /** Sends the request now and retries it until it is answered or has failed. */
  start<T>(spec: RequestSpec<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.pending.has(spec.id)) return reject(new ClientError('BAD_REQUEST', `request id ${spec.id} is in flight`));
      const p: Pending = {
        spec: spec as RequestSpec<unknown>,
        attempts: 0,
        maxAttempts: Math.max(1, spec.maxAttempts ?? this.maxAttempts),
        firstDelay: this.rtt.firstDelayMs(),
        sentAt: this.clock.now(),
        resent: false,
        measured: false,
        timer: undefined,
        limited: undefined,
        resolve: resolve as (v: unknown) => void,
        reject,
      };
      this.pending.set(spec.id, p);
      this.attempt(p);
    });
  }

  /** Offers a server message to the request it answers; other messages are left alone. */
  handle(msg: ServerMessage, from: RemoteInfo): void {
    const id = 'id' in msg ? msg.id : undefined;
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p) return this.secondAnswer(msg, id, from);
    if (!p.spec.sources.some((ep) => isFrom(ep, from))) return;
    if (msg.type === 'error') {
      if (p.spec.ignoreCodes?.includes(msg.code)) return;
      this.measure(p);
      // Refusals are not remembered by the server, so the same id may be
      // retried: back off on the request schedule instead of failing.
      if (msg.code === 'RATE_LIMITED') {
        p.limited = new ClientError(msg.code, msg.message);
        return;
      }
      return this.settle(p, () => p.reject(serverError(msg.code, msg.message)));
    }
    const value = p.spec.accept(msg);
    if (value === undefined) return;
    this.measure(p);
    this.settle(p, () => p.resolve(value));
  }

  /**
   * An answer to a request sent once is a round-trip sample; one answered
   * after a retry is not (Karn's rule), and is remembered in case a second
   * answer shows the retry was needless. Once per request.
   */
  private measure(p: Pending): void {
    if (p.measured || p.resent || p.spec.measureRtt === false) return;
    p.measured = true;
    const now = this.clock.now();
    if (p.attempts === 1) return this.rtt.sample(now - p.sentAt);
    for (const [id, a] of this.answered) {
      if (this.answered.size < ANSWERED_MAX && now - a.at <= ANSWERED_KEEP_MS) break;
      this.answered.delete(id);
    }
    this.answered.set(p.spec.id, { firstDelay: p.firstDelay, sources: [...p.spec.sources], accept: p.spec.accept, at: now });
  }

  /** An answer for a request already answered after a resend: the resend was needless. */
  private secondAnswer(msg: ServerMessage, id: string, from: RemoteInfo): void {
    const a = this.answered.get(id);
    if (!a || !a.sources.some((ep) => isFrom(ep, from))) return;
    if (this.clock.now() - a.at > ANSWERED_KEEP_MS) {
      this.answered.delete(id);
      return;
    }
    if (msg.type !== 'error' && a.accept(msg) === undefined) return;
    this.answered.delete(id);
    this.rtt.backoff(a.firstDelay);
  }

  /**
   * Fails every pending request of a room (it closed, or our membership is
   * gone); with spareWaiting, requests marked waitsForRejoin go on.
   */
  failRoom(room: string, err: ClientError, opts: { spareWaiting?: boolean } = {}): void {
    for (const p of [...this.pending.values()]) {
      if (p.spec.room !== room || (opts.spareWaiting && p.spec.waitsForRejoin)) continue;
      this.settle(p, () => p.reject(err));
    }
  }

  /**
   * Sends every pending request of a room once more, now (a new membership
   * is there to carry them, or the room is at a new endpoint). Not counted as an attempt: the schedule and
   * the bound stay as they were.
   */
  resendRoom(room: string): void {
    for (const p of [...this.pending.values()]) {
      if (p.spec.room !== room) continue;
      p.resent = true;
      this.counters.retries++;
      p.spec.send();
    }
  }

  /** Fails every pending request (the client is closing). */
  failAll(err: ClientError): void {
    for (const p of [...this.pending.values()]) this.settle(p, () => p.reject(err));
  }

  get size(): number {
    return this.pending.size;
  }

  private attempt(p: Pending): void {
    if (p.attempts >= p.maxAttempts) {
      return this.settle(p, () => p.reject(p.limited ?? clientError('TIMEOUT', `no answer after ${p.attempts} attempts`)));
    }
    let delay = retryDelayMs(p.firstDelay, p.attempts);
    if (p.spec.jitter) {
      const r = Math.min(1, Math.max(0, Number(p.spec.jitter()) || 0));
      delay = Math.round(delay * (1 - RESEND_JITTER + 2 * RESEND_JITTER * r));
    }
    if (p.attempts > 0) this.counters.retries++;
    p.attempts++;
    p.timer = this.clock.setTimeout(() => this.attempt(p), delay);
    p.timer.unref?.();
    p.spec.send();
  }

  private settle(p: Pending, done: () => void): void {
    if (this.pending.get(p.spec.id) !== p) return;
    this.pending.delete(p.spec.id);
    if (p.timer) this.clock.clearTimeout(p.timer);
    p.timer = undefined;
    done();
  }
}
