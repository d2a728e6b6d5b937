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
//   joined → joined            moved()           the room is at another endpoint, same membership
//   joined → rejoining         rejoining()       the membership is lost (autoRejoin)
//   rejoining → joined         joined()          a new membership is granted
//   rejoining → (none)         forget()          the rejoin gives up, or close() stops it
//   joined, rejoining → leaving  leaving()       leave()
//   leaving → leaving          leavingWith()     a stopped rejoin's last attempt brought a membership: it is left too
//   leaving → leaving          membershipGone()  the membership being left is gone (left, or its room closed)
//   leaving → (none)           forget()          the leave settles
//   joined → (none)            forget()          the room closed; the membership was lost without
//                                                autoRejoin; locating it gave up (autoRejoin); another room
//                                                took its endpoint
//
// A joined room always has its membership (a RoomSession); a room being
// left keeps the one being left until it is gone. The nick and key a room
// was joined with stay with its state: a rejoin joins again with the same
// ones.
//
// The by-endpoint index (which membership a datagram from a room endpoint
// is for) is derived from the memberships in the table and kept by index()
// alone. It is keyed by address and port: with several nodes (protocol
// "Several nodes (cluster mode)") two rooms on two nodes may share a port
// number, while live rooms never share an endpoint, so one membership per
// endpoint. A room endpoint named by a host name is keyed by its port alone
// (client/endpoint.ts). A room that moves keeps its membership: moved()
// gives it the new endpoint and re-keys it, as nothing else holds a room's
// endpoint.
import { endpointKey, sourceKeys, type Endpoint } from './endpoint.js';
import type { JoinRetry } from './join-retry.js';
import type { Locate } from './locate.js';
import type { Rejoin } from './rejoin.js';
import type { RoomSession } from './room-session.js';
import type { RemoteInfo } from './transport.js';

export type RoomStatus = 'joining' | 'joined' | 'rejoining' | 'leaving';

export interface RoomState {
  readonly room: string;
  /** What the room was joined with: a rejoin joins again with them. */
  readonly nick: string;
  readonly key: string | undefined;
  readonly status: RoomStatus;
  /** joining: the join() in progress. */
  readonly join: JoinRetry | undefined;
  /** joined: the membership (always). leaving: the one being left, until it settles or the room is gone. */
  readonly session: RoomSession | undefined;
  /** rejoining: the rejoin in progress. */
  readonly rejoin: Rejoin | undefined;
  /** Asking where the current membership's room is, while it is silent (client/locate.ts). */
  readonly locate: Locate | undefined;
  /** leaving: settles when the leave is over. */
  readonly left: Promise<void> | undefined;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

export class RoomTable {
  private readonly rooms = new Map<string, Mutable<RoomState>>();
  private readonly byEndpoint = new Map<string, RoomSession>();

  get(room: string): RoomState | undefined {
    return this.rooms.get(room);
  }

  /** The membership whose room sends from there. */
  sessionFrom(from: RemoteInfo): RoomSession | undefined {
    const [exact, any] = sourceKeys(from);
    return this.byEndpoint.get(exact) ?? this.byEndpoint.get(any);
  }

  /** The membership whose room is at endpoint ep. */
  sessionAt(ep: Endpoint): RoomSession | undefined {
    return this.byEndpoint.get(endpointKey(ep));
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
      locate: undefined,
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

  /** joined → joined: a new membership replaces one that turned out to be gone; locating the old one is over. */
  switched(st: RoomState, session: RoomSession): void {
    const m = this.mutable(st);
    m.locate = undefined;
    this.index(m, session);
  }

  /** joined → joined: the membership's room is at endpoint `to` now; locating it is over. */
  moved(st: RoomState, to: Endpoint): void {
    const m = this.mutable(st);
    const s = m.session!;
    m.locate = undefined;
    this.index(m, undefined);
    s.moveTo(to);
    this.index(m, s);
  }

  /** joined → rejoining: the membership is lost; the rejoin takes over. */
  rejoining(st: RoomState, rejoin: Rejoin): void {
    const m = this.mutable(st);
    m.status = 'rejoining';
    m.rejoin = rejoin;
    m.locate = undefined;
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
    m.locate = undefined;
    this.index(m, undefined);
  }

  /** any → (none): the room is no longer ours. */
  forget(st: RoomState): void {
    const m = this.mutable(st);
    m.locate = undefined;
    this.index(m, undefined);
    if (this.rooms.get(st.room) === st) this.rooms.delete(st.room);
  }

  /** Locating the current membership's room (undefined: not). */
  locating(st: RoomState, locate: Locate | undefined): void {
    this.mutable(st).locate = locate;
  }

  // ---- the by-endpoint index -------------------------------------------------

  /** The one place a room's membership, and so the by-endpoint index, changes. */
  private index(st: Mutable<RoomState>, session: RoomSession | undefined): void {
    const old = st.session;
    if (old && this.byEndpoint.get(endpointKey(old.endpoint)) === old) this.byEndpoint.delete(endpointKey(old.endpoint));
    st.session = session;
    if (session) this.byEndpoint.set(endpointKey(session.endpoint), session);
  }

  private mutable(st: RoomState): Mutable<RoomState> {
    return st as Mutable<RoomState>;
  }
}
