// Requests in flight, matched to replies by `id` and retried with the same
// `id` until answered (protocol "Requests and idempotence": the server
// replays the same reply to a retry and never applies it twice). Every
// request is bounded: maxAttempts sends, with delays doubling from
// retryInitialMs up to a cap, then it fails with TIMEOUT.
import type { Clock, Timer } from '../lib/clock.js';
import type { ServerMessage } from '../lib/wire.js';
import { ClientError, clientError } from './client-error.js';

/** Retry delays double up to this (unless retryInitialMs is larger). */
export const RETRY_CAP_MS = 2_000;

export interface RequestSpec<T> {
  id: string;
  /** Sends one attempt (the same datagram every time). */
  send(): void;
  /** Source ports a reply may come from. */
  ports: readonly number[];
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
}

interface Pending {
  spec: RequestSpec<unknown>;
  attempts: number;
  maxAttempts: number;
  timer: Timer | undefined;
  /** A RATE_LIMITED answer: the request is retried on its schedule and fails with this only when attempts run out. */
  limited: ClientError | undefined;
  resolve(v: unknown): void;
  reject(e: Error): void;
}

export class Requests {
  private readonly pending = new Map<string, Pending>();

  constructor(
    private readonly clock: Clock,
    private readonly retryInitialMs: number,
    private readonly maxAttempts: number,
  ) {}

  /** Sends the request now and retries it until it is answered or has failed. */
  start<T>(spec: RequestSpec<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      if (this.pending.has(spec.id)) return reject(new ClientError('BAD_REQUEST', `request id ${spec.id} is in flight`));
      const p: Pending = {
        spec: spec as RequestSpec<unknown>,
        attempts: 0,
        maxAttempts: Math.max(1, spec.maxAttempts ?? this.maxAttempts),
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
  handle(msg: ServerMessage, fromPort: number): void {
    const id = 'id' in msg ? msg.id : undefined;
    if (id === undefined) return;
    const p = this.pending.get(id);
    if (!p || !p.spec.ports.includes(fromPort)) return;
    if (msg.type === 'error') {
      if (p.spec.ignoreCodes?.includes(msg.code)) return;
      // Refusals are not remembered by the server, so the same id may be
      // retried: back off on the request schedule instead of failing.
      if (msg.code === 'RATE_LIMITED') {
        p.limited = new ClientError(msg.code, msg.message);
        return;
      }
      return this.settle(p, () => p.reject(new ClientError(msg.code, msg.message)));
    }
    const value = p.spec.accept(msg);
    if (value !== undefined) this.settle(p, () => p.resolve(value));
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
   * is there to carry them). Not counted as an attempt: the schedule and
   * the bound stay as they were.
   */
  resendRoom(room: string): void {
    for (const p of [...this.pending.values()]) if (p.spec.room === room) p.spec.send();
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
      return this.settle(p, () => p.reject(p.limited ?? clientError('TIMEOUT', `${p.attempts} attempts of request ${p.spec.id}`)));
    }
    const delay = Math.min(this.retryInitialMs * 2 ** p.attempts, Math.max(RETRY_CAP_MS, this.retryInitialMs));
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
