// Which membership is being probed (client/probe.ts), and when a probe
// starts and stops. With autoRejoin, a membership that went unresponsive
// while its room is joined gets one probe series, held in its RoomState
// (client/room-state.ts) until:
// - the room answers again: the series stops; a probe on the wire stays
//   the room's until it settles, and if the room is silent again by then,
//   a new series starts for this spell;
// - the series is spent (the supervisor vouched for the membership every
//   time): it stays the room's, so one silent spell is probed at most
//   maxProbes times, until the room answers;
// - the membership ends (end()): the series stops and is forgotten; a probe
//   still on the wire reports to found() all the same.
// What a probe finds is not decided here: a new membership goes to
// found(), a probe series that gives up to failed(), each with the
// membership it probed.
import type { Clock } from '../lib/clock.js';
import type { JoinedReply } from '../lib/wire.js';
import type { ClientError } from './client-error.js';
import type { JoinRequests } from './join-requests.js';
import type { RejoinPolicy } from './options.js';
import { Probe } from './probe.js';
import { UNRESPONSIVE_PERIODS, type RoomSession } from './room-session.js';
import type { RoomState, RoomTable } from './room-state.js';
import type { Counters } from './stats.js';

export interface RoomProbingDeps {
  clock: Clock;
  table: RoomTable;
  joins: JoinRequests;
  counters: Counters;
  /** undefined: no autoRejoin, no probes. */
  policy: Readonly<RejoinPolicy> | undefined;
  /** Whether new probes may start (the client is open). */
  mayStart(): boolean;
  /** A probe of membership s brought a new membership: s was gone. */
  found(s: RoomSession, joined: JoinedReply): void;
  /** The probes of membership s gave up: a final refusal, or maxProbes spent without the supervisor vouching for it. */
  failed(s: RoomSession, error: ClientError): void;
}

export class RoomProbing {
  constructor(private readonly d: RoomProbingDeps) {}

  /** Membership s went unresponsive: probe it, if it is its room's and not probed already this spell. */
  begin(s: RoomSession): void {
    const policy = this.d.policy;
    const st = this.d.table.get(s.room);
    if (!policy || !this.d.mayStart() || st?.status !== 'joined' || st.session !== s || st.probe) return;
    const p = new Probe(s.room, {
      clock: this.d.clock,
      intervalMs: UNRESPONSIVE_PERIODS * s.heartbeatMs,
      maxProbes: policy.maxAttempts,
      join: () => {
        this.d.counters.probes++;
        return this.d.joins.send(st.room, st.nick, st.key);
      },
      joined: (p, joined) => {
        if (st.probe === p) this.d.table.probing(st, undefined);
        this.d.found(s, joined);
      },
      failed: (p, error) => {
        if (st.probe === p) this.d.table.probing(st, undefined);
        this.d.failed(s, error);
      },
      ended: (p) => {
        if (st.probe !== p) return;
        this.d.table.probing(st, undefined);
        // Stopped because the room answered, and silent again since: probe this spell too.
        if (s.unresponsive) this.begin(s);
      },
    });
    this.d.table.probing(st, p);
    p.start();
  }

  /** No more probes for the room's membership; a probe on the wire stays the room's until it settles. */
  stop(st: RoomState): void {
    const p = st.probe;
    if (!p) return;
    p.stop();
    if (!p.inFlight) this.d.table.probing(st, undefined);
  }

  /** The room's membership is ending: its probes stop and are forgotten. */
  end(st: RoomState): void {
    st.probe?.stop();
    this.d.table.probing(st, undefined);
  }
}
