// Re-joining a lost membership (ChatClientOptions.autoRejoin). A membership
// is lost when the room answers NOT_MEMBER to our token (an eviction: we
// were silent too long, or our address changed) or sends `closed` with
// reason `crashed` (the supervisor's restart policy gave up; a join creates
// the room afresh). `closed` `shutdown` is not re-joined: the service is
// going away.
//
// Contract:
// - Attempts are normal `join` requests, each with a new id and its own
//   request retries; the same room, nick and key as the lost membership.
// - Attempt n waits min(maxMs, initialMs x 2^(n-1)) x (1 ± 20% jitter), capped
//   at maxMs; 'rejoining' is reported before the wait, so the application
//   learns of the loss at once.
// - A refusal that cannot change by itself (FINAL_CODES) ends it; any other
//   failure (NICK_TAKEN: our old membership may hold the nick until the room
//   notices; ALREADY_JOINED: the supervisor may not have noticed yet; TIMEOUT;
//   ROOM_FULL; ...) is retried, up to maxAttempts.
// - stop() (leave(), close()) ends it quietly; whoever stops a rejoin while a
//   join attempt is in flight owns that attempt's outcome (inFlight).
import type { Clock } from '../lib/clock.js';
import type { JoinedReply } from '../lib/wire.js';
import { ClientError } from './client-error.js';
import { JoinLoop } from './join-loop.js';
import type { RejoinPolicy } from './options.js';

export type LossReason = 'evicted' | 'crashed';

/** Join refusals that a retry cannot cure. */
export const FINAL_CODES: ReadonlySet<string> = new Set([
  'BAD_KEY',
  'BAD_ROOM_NAME',
  'BAD_NICK',
  'BAD_REQUEST',
  'TOO_LARGE',
  'SHUTTING_DOWN',
]);

export const REJOIN_FACTOR = 2;
export const REJOIN_JITTER = 0.2;

/** The wait before attempt n (1-based): exponential, jittered by ±20%, never above maxMs. */
export function rejoinDelay(p: Readonly<RejoinPolicy>, attempt: number, random: () => number): number {
  const base = Math.min(p.maxMs, p.initialMs * REJOIN_FACTOR ** Math.max(0, attempt - 1));
  const r = Math.min(1, Math.max(0, Number(random()) || 0));
  return Math.min(p.maxMs, Math.max(0, Math.round(base * (1 - REJOIN_JITTER + 2 * REJOIN_JITTER * r))));
}

export interface RejoiningInfo {
  room: string;
  reason: LossReason;
  /** 1 for the first attempt. */
  attempt: number;
  /** How long the client waits before this attempt. */
  delayMs: number;
}

export interface RejoinDeps {
  clock: Clock;
  policy: Readonly<RejoinPolicy>;
  random: () => number;
  /** Sends one join attempt (a new request id). */
  join(r: Rejoin): Promise<JoinedReply>;
  rejoining(info: RejoiningInfo): void;
  succeeded(r: Rejoin, joined: JoinedReply): void;
  failed(r: Rejoin, err: ClientError): void;
}

export class Rejoin extends JoinLoop {
  attempt = 0;

  constructor(
    readonly room: string,
    readonly nick: string,
    readonly key: string | undefined,
    readonly reason: LossReason,
    /** The last seq delivered in order by the lost membership. */
    readonly previousSeq: number,
    private readonly d: RejoinDeps,
  ) {
    super(d.clock);
  }

  start(): void {
    this.next();
  }

  private next(): void {
    this.attempt++;
    const delayMs = rejoinDelay(this.d.policy, this.attempt, this.d.random);
    this.d.rejoining({ room: this.room, reason: this.reason, attempt: this.attempt, delayMs });
    if (this.stopped) return; // a listener left or closed
    this.after(delayMs, () => void this.run());
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    const out = await this.tryJoin(() => this.d.join(this));
    if (this.stopped) return; // whoever stopped us handles `joined` (it awaits inFlight too)
    if ('error' in out) {
      if (FINAL_CODES.has(out.error.code) || this.attempt >= this.d.policy.maxAttempts) {
        this.stopped = true;
        return this.d.failed(this, out.error);
      }
      return this.next();
    }
    this.stopped = true;
    this.d.succeeded(this, out.joined);
  }
}
