// Probing a silent room (ChatClientOptions.autoRejoin). A member evicted
// from a room it was alone in is never told: the room is deleted with its
// last member, so nobody answers our hb with NOT_MEMBER. When a room has
// been unresponsive (no hb reply for UNRESPONSIVE_PERIODS periods), the
// client asks the control endpoint instead: a `join` of the same room with
// the same nick and key, under a new id. The supervisor refuses a second
// membership of one endpoint in one room with ALREADY_JOINED before any
// other check but the name, nick and shutdown checks (protocol "Error
// precedence") when the first has proven its address, as one that
// heartbeated has (an unproven one is replaced instead), so:
//
// - ALREADY_JOINED: the supervisor still holds our membership (the room is
//   restarting, or slow, or only the path to it is lossy). The session is
//   kept and goes on heartbeating; the room is probed again one unresponsive
//   period (UNRESPONSIVE_PERIODS x heartbeatMs) after this probe began,
//   while it stays silent, at most maxProbes times in a row.
// - `joined`: our old membership was gone; this is a new one. The owner
//   switches to it exactly as a rejoin does.
// - a refusal that cannot change by itself (FINAL_CODES, e.g. BAD_KEY: the
//   room was created again by someone else, with a key) ends it: failed().
// - any other failure (TIMEOUT, NICK_TAKEN, ROOM_FULL, RATE_LIMITED, ...)
//   is probed again like ALREADY_JOINED; if the last of maxProbes probes
//   fails that way, failed() as a rejoin whose attempts ran out. If the
//   last one was ALREADY_JOINED, probing just stops (the probe is `spent`):
//   the membership stands, and the owner keeps the spent probe until the
//   room answers again, so one silent spell is probed at most maxProbes
//   times.
//
// The old session's heartbeats are never stopped by a probe: stopping them
// would get a live membership evicted.
//
// stop() ends the probing (the room answered again, it was left, the
// membership was lost another way, the client is closing): no further
// probe and no failed(). A `joined` for a probe already on the wire is
// still handed to joined(): whoever owns the room decides what becomes of
// that membership (switch to it, hand it to a rejoin, or give it back);
// any other outcome of it is reported as ended().
import type { Clock } from '../lib/clock.js';
import type { JoinedReply } from '../lib/wire.js';
import { ClientError } from './client-error.js';
import { JoinLoop } from './join-loop.js';
import { FINAL_CODES } from './rejoin.js';

export interface ProbeDeps {
  clock: Clock;
  /** Time between the starts of two probes: one unresponsive period. */
  intervalMs: number;
  /** Probes in a row before giving up. */
  maxProbes: number;
  /** Sends one probe: a join request with a new id. */
  join(): Promise<JoinedReply>;
  /** A probe brought a membership (also after stop()). */
  joined(p: Probe, joined: JoinedReply): void;
  /** A final refusal, or maxProbes spent without the supervisor vouching for us. */
  failed(p: Probe, err: ClientError): void;
  /** A probe stopped while on the wire settled without a membership: the owner may forget it. */
  ended(p: Probe): void;
}

export class Probe extends JoinLoop {
  /** Probes sent so far. */
  count = 0;

  constructor(
    readonly room: string,
    private readonly d: ProbeDeps,
  ) {
    super(d.clock);
  }

  start(): void {
    void this.run();
  }

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.count++;
    const startedAt = this.d.clock.now();
    const out = await this.tryJoin(() => this.d.join());
    if ('joined' in out) {
      // Also after stop(): the new membership is the owner's to place or give back.
      this.stopped = true;
      return this.d.joined(this, out.joined);
    }
    if (this.stopped) return this.d.ended(this);
    const e = out.error;
    const vouched = e.code === 'ALREADY_JOINED';
    if (FINAL_CODES.has(e.code) || (!vouched && this.count >= this.d.maxProbes)) {
      this.stopped = true;
      return this.d.failed(this, e);
    }
    if (this.count >= this.d.maxProbes) {
      this.stopped = true; // spent: the supervisor vouched for the membership
      return;
    }
    this.after(Math.max(0, startedAt + this.d.intervalMs - this.d.clock.now()), () => void this.run());
  }
}
