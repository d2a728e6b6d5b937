// Where each room stands for this client: one RoomState per room, with an
// explicit status, in one table. Only RoomTable's methods change a room's
// status or its membership, each a transition named after where it leads;
// client/room-machine.ts decides when, and does what goes with it (timers,
// requests, events). A room in none of the statuses is not in the table.
//
//   from → to                  method            when
//   (none) → joining           joining()         join() starts
//   joining → joined           joined()          the join is granted
//   joining → (none)           forget()          it fails, or close() cancels it
//   joined → joined            switched()        a new membership replaces one found gone
//   joined → rejoining         rejoining()       the membership is lost (autoRejoin)
//   rejoining → joined         joined()          a new membership is granted
//   rejoining → (none)         forget()          the rejoin gives up, or close() stops it
//   joined, rejoining → leaving  leaving()       leave()
//   leaving → leaving          leavingWith()     a stopped rejoin's last attempt brought a membership: it is left too
//   leaving → leaving          membershipGone()  the membership being left is gone (left, or its room closed)
//   leaving → (none)           forget()          the leave settles
//   joined → (none)            forget()          the room closed; the membership was lost without
//                                                autoRejoin; its probes gave up; another room took its port
//
// A joined room always has its membership (a RoomSession); a room being
// left keeps the one being left until it is gone. The nick and key a room
// was joined with stay with its state: a rejoin or a probe joins again with
// the same ones.
//
// The by-port index (which membership a datagram from a room port is for)
// is derived from the memberships in the table and kept by index() alone;
// live rooms never share a port, so one membership per port. A room whose
// address changed under the same membership would be one more transition,
// joined → joined like switched(): moved() would give the membership its
// new address and index() would re-key it, as nothing else holds a room's
// port. Rooms do not move today, so there is no such transition.
import type { JoinRetry } from './join-retry.js';
import type { Probe } from './probe.js';
import type { Rejoin } from './rejoin.js';
import type { RoomSession } from './room-session.js';

export type RoomStatus = 'joining' | 'joined' | 'rejoining' | 'leaving';

export interface RoomState {
  readonly room: string;
  /** What the room was joined with: a rejoin or a probe joins again with them. */
  readonly nick: string;
  readonly key: string | undefined;
  readonly status: RoomStatus;
  /** joining: the join() in progress. */
  readonly join: JoinRetry | undefined;
  /** joined: the membership (always). leaving: the one being left, until it settles or the room is gone. */
  readonly session: RoomSession | undefined;
  /** rejoining: the rejoin in progress. */
  readonly rejoin: Rejoin | undefined;
  /**
   * The probe of the current membership while it is unresponsive: running,
   * stopped with a probe still on the wire, or spent (until the room answers).
   */
  readonly probe: Probe | undefined;
  /** leaving: settles when the leave is over. */
  readonly left: Promise<void> | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class RoomTable {
  private readonly rooms = new Map<string, Mutable<RoomState>>();
  private readonly byPort = new Map<number, RoomSession>();

  get(room: string): RoomState | undefined {
    return this.rooms.get(room);
  }

  /** The membership whose room answers from this port. */
  sessionAt(port: number): RoomSession | undefined {
    return this.byPort.get(port);
  }

  /** Every room, in the order they were first joined (a copy: transitions may follow). */
  all(): RoomState[] {
    return [...this.rooms.values()];
  }

  // ---- transitions -------------------------------------------------------------

  /** (none) → joining. */
  joining(room: string, nick: string, key: string | undefined, join: JoinRetry): RoomState {
    const st: Mutable<RoomState> = {
      room,
      nick,
      key,
      status: 'joining',
      join,
      session: undefined,
      rejoin: undefined,
      probe: undefined,
      left: undefined,
    };
    this.rooms.set(room, st);
    return st;
  }

  /** joining, rejoining → joined: a membership holds the room. */
  joined(st: RoomState, session: RoomSession): void {
    const m = this.mutable(st);
    m.status = 'joined';
    m.join = undefined;
    m.rejoin = undefined;
    this.index(m, session);
  }

  /** joined → joined: a new membership replaces one that turned out to be gone; its probe is over. */
  switched(st: RoomState, session: RoomSession): void {
    const m = this.mutable(st);
    m.probe = undefined;
    this.index(m, session);
  }

  /** joined → rejoining: the membership is lost; the rejoin takes over. */
  rejoining(st: RoomState, rejoin: Rejoin): void {
    const m = this.mutable(st);
    m.status = 'rejoining';
    m.rejoin = rejoin;
    m.probe = undefined;
    this.index(m, undefined);
  }

  /** joined, rejoining → leaving; `left` settles when the leave is over. */
  leaving(st: RoomState, left: Promise<void>): void {
    const m = this.mutable(st);
    m.status = 'leaving';
    m.rejoin = undefined;
    m.left = left;
  }

  /** leaving: the membership a stopped rejoin brought, which the leave goes on to leave. */
  leavingWith(st: RoomState, session: RoomSession): void {
    this.index(this.mutable(st), session);
  }

  /** leaving: the membership being left is gone (left, or its room closed); the leave settles by itself. */
  membershipGone(st: RoomState): void {
    const m = this.mutable(st);
    m.probe = undefined;
    this.index(m, undefined);
  }

  /** any → (none): the room is no longer ours. */
  forget(st: RoomState): void {
    const m = this.mutable(st);
    m.probe = undefined;
    this.index(m, undefined);
    if (this.rooms.get(st.room) === st) this.rooms.delete(st.room);
  }

  /** The probe of the current membership (undefined: none). */
  probing(st: RoomState, probe: Probe | undefined): void {
    this.mutable(st).probe = probe;
  }

  // ---- the by-port index -----------------------------------------------------

  /** The one place a room's membership, and so the by-port index, changes. */
  private index(st: Mutable<RoomState>, session: RoomSession | undefined): void {
    const old = st.session;
    if (old && this.byPort.get(old.port) === old) this.byPort.delete(old.port);
    st.session = session;
    if (session) this.byPort.set(session.port, session);
  }

  private mutable(st: RoomState): Mutable<RoomState> {
    return st as Mutable<RoomState>;
  }
}
