// Where is a silent room now? With several nodes (protocol "Several nodes
// (cluster mode)") a room whose node died is resumed by another node, with
// the same members, tokens and seqs, at another endpoint; any control
// endpoint answers `where` for a membership with where its room is now. On
// a single node `where` vouches for the membership the same way. So while a
// membership's room is silent (client/room-session.ts: quiet or
// unresponsive), the client asks, one `where` at a time, each a request of
// its own (a new id, at the current control endpoint, WHERE_ATTEMPTS sends:
// an unanswered one moves the next to the next control endpoint, and a
// dead node must not hold the search up long):
//
// - `here` naming another endpoint: the room moved; moved() (the owner
//   points the membership there). The series ends.
// - `here` naming the endpoint we use: the membership stands and nothing
//   moved; the room may be restarting, or its node dying before the
//   cluster noticed, so ask again soon: after WHERE_RETRY_MS, doubling up
//   to HERE_SAME_MAX_MS, and once the room has been silent for an
//   unresponsive period, once a heartbeat period.
// - ROOM_UNAVAILABLE: the room is between nodes (or restarting): ask again
//   after WHERE_RETRY_MS, doubling up to UNAVAILABLE_MAX_MS.
// - NOT_MEMBER: the membership is gone (a lone member evicted, its room
//   deleted; a room given up); gone(): the owner's lost-membership path.
// - TIMEOUT: the control endpoint did not answer; ask again at once (the
//   next one in the list). Any other refusal: as `here` for the delay.
// - No `here` for giveUpMs: failed() with the last failure. The series ends.
//
// `where` is no sign of life for the room (it does not reset the room's
// heartbeat clock): the membership goes on heartbeating meanwhile, and any
// answer from the room ends the series (stop()).
import type { Clock, Timer } from '../lib/clock.js';
import type { HereReply } from '../lib/wire.js';
import { ClientError } from './client-error.js';
import { endpoint, sameEndpoint, type Endpoint } from './endpoint.js';
import { UNRESPONSIVE_PERIODS } from './room-session.js';

/**
 * Sends of one `where` before it fails with TIMEOUT (at 0 and d; failed at
 * 3d: 750 ms at the default delay). Few: a `where` is cheap to ask again,
 * and the control endpoint may be on the node that just died, so the next
 * one (at the next control endpoint) should not wait long.
 */
export const WHERE_ATTEMPTS = 2;
/** The first wait between two `where`s. */
export const WHERE_RETRY_MS = 250;
/** The longest wait after ROOM_UNAVAILABLE: the room will be somewhere within a few seconds. */
export const UNAVAILABLE_MAX_MS = 500;
/** The longest wait after a `here` naming our endpoint, while the room has been silent less than an unresponsive period. */
export const HERE_SAME_MAX_MS = 1_000;

export interface LocateDeps {
  clock: Clock;
  /** One `where` for the membership (a new id, at the current control endpoint). */
  ask(): Promise<HereReply>;
  /** The membership's room endpoint now. */
  at(): Endpoint;
  heartbeatMs: number;
  /** Given up after this long without a `here`. */
  giveUpMs: number;
  moved(l: Locate, to: Endpoint): void;
  gone(l: Locate): void;
  failed(l: Locate, err: ClientError): void;
}

export class Locate {
  stopped = false;
  /** `where`s asked so far. */
  asked = 0;
  private startedAt = 0;
  private lastHere = 0;
  /** Consecutive answers of one kind, for the backoff. */
  private streak = { kind: '', n: 0 };
  private timer: Timer | undefined;

  constructor(private readonly d: LocateDeps) {}

  start(): void {
    this.startedAt = this.lastHere = this.d.clock.now();
    void this.run();
  }

  /** No more `where`s; an answer still on the wire is ignored. */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.d.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.asked++;
    let here: HereReply | undefined;
    let error: ClientError | undefined;
    try {
      here = await this.d.ask();
    } catch (err) {
      error = err instanceof ClientError ? err : new ClientError('INTERNAL', err instanceof Error ? err.message : String(err));
    }
    if (this.stopped) return;
    const now = this.d.clock.now();
    let delay: number;
    if (here) {
      const to = endpoint(here.host, here.port);
      if (!sameEndpoint(to, this.d.at())) {
        this.stopped = true;
        return this.d.moved(this, to);
      }
      this.lastHere = now;
      const young = now - this.startedAt < UNRESPONSIVE_PERIODS * this.d.heartbeatMs;
      delay = this.backoff('here', young ? HERE_SAME_MAX_MS : this.d.heartbeatMs);
    } else if (error!.code === 'NOT_MEMBER') {
      this.stopped = true;
      return this.d.gone(this);
    } else if (error!.code === 'ROOM_UNAVAILABLE') {
      delay = this.backoff('unavailable', UNAVAILABLE_MAX_MS);
    } else if (error!.code === 'TIMEOUT') {
      delay = 0;
    } else {
      delay = this.backoff('refused', this.d.heartbeatMs);
    }
    if (error && now - this.lastHere >= this.d.giveUpMs) {
      this.stopped = true;
      return this.d.failed(this, error);
    }
    this.timer = this.d.clock.setTimeout(() => {
      this.timer = undefined;
      void this.run();
    }, delay);
    this.timer.unref?.();
  }

  /** WHERE_RETRY_MS doubling per answer of the same kind in a row, up to max. */
  private backoff(kind: string, max: number): number {
    if (this.streak.kind === kind) this.streak.n++;
    else this.streak = { kind, n: 1 };
    return Math.min(max, WHERE_RETRY_MS * 2 ** (this.streak.n - 1));
  }
}
