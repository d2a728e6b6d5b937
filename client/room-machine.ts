// What happens to a room, and when: every change of a RoomState
// (client/room-state.ts) is made here, in a method named after what
// happened, which also does what goes with it (the membership's timers,
// requests failed or resent, rejoins and `where`s started or stopped, events).
//
// - join(): joining → joined, or gone if it fails.
// - leave(): joined → leaving (client/leave.ts), or rejoining → leaving: the
//   rejoin stops, and a join attempt of it already on the wire is waited
//   for, its membership left too. Gone when the leave settles.
// - A membership lost (NOT_MEMBER to our token, `closed` `crashed`): joined
//   → rejoining with autoRejoin (client/rejoin.ts), else gone; rejoining →
//   joined when a new membership comes, gone if the rejoin gives up.
// - A membership that turns out to be gone while another is granted (a
//   late `joined` with a higher seq at the same room endpoint): joined →
//   joined, switched to the new one.
// - A room that went silent is located (client/locate.ts, with or without
//   autoRejoin): found at another endpoint, joined → joined, moved there
//   (the same membership: protocol "Several nodes (cluster mode)"); found
//   without our membership, the membership is lost (above); not found for
//   long, with autoRejoin, the room is gone as a rejoin that gives up.
// - A `joined` nobody waits for (placeJoined) is adopted if the room wants a
//   membership (a join() or a rejoin running, a newer one replacing ours),
//   else handed back at once (client/join-requests.ts).
// - `closed` (other than crashed with autoRejoin), an eviction without
//   autoRejoin, locating that gives up (autoRejoin), a new membership at
//   the endpoint of another room (its `closed` was lost): the room is
//   gone. While leaving, only its membership goes; the leave settles by
//   itself.
// Nothing starts unless the client is open; once it is closing, memberships
// granted meanwhile are handed back.
import { nanoid } from 'nanoid';
import type { Clock } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import type { JoinedReply } from '../lib/wire.js';
import { ClientError, clientError } from './client-error.js';
import type { Fire } from './client-events.js';
import type { ControlRequests } from './control.js';
import { sameEndpoint, type Endpoint } from './endpoint.js';
import type { JoinRequests } from './join-requests.js';
import { JoinRetry } from './join-retry.js';
import { leaveRoom } from './leave.js';
import { REJOIN_DEFAULTS, type ResolvedOptions } from './options.js';
import type { Outbound } from './outbound.js';
import { Rejoin, type LossReason } from './rejoin.js';
import { RoomLocating } from './room-locating.js';
import type { RoomRequests } from './room-requests.js';
import { RoomSession, UNRESPONSIVE_PERIODS } from './room-session.js';
import type { RoomState, RoomTable } from './room-state.js';
import type { Requests } from './requests.js';
import type { RttEstimator } from './rtt.js';
import type { Counters } from './stats.js';

/** The client's own lifecycle (ChatClient.close()). */
export type ClientState = 'open' | 'closing' | 'closed';

export interface RoomMachineDeps {
  opts: ResolvedOptions;
  clock: Clock;
  table: RoomTable;
  requests: Requests;
  roomRequests: RoomRequests;
  control: ControlRequests;
  joins: JoinRequests;
  out: Outbound;
  rtt: RttEstimator;
  counters: Counters;
  clientState(): ClientState;
  fire: Fire;
}

export class RoomMachine {
  private readonly table: RoomTable;
  private readonly locating: RoomLocating;

  constructor(private readonly d: RoomMachineDeps) {
    this.table = d.table;
    // As long as the rejoins' attempts would take at their longest: the same patience either way.
    const periods = (d.opts.autoRejoin ?? REJOIN_DEFAULTS).maxAttempts * UNRESPONSIVE_PERIODS;
    this.locating = new RoomLocating({
      clock: d.clock,
      table: d.table,
      control: d.control,
      counters: d.counters,
      giveUpMs: (s) => periods * s.heartbeatMs,
      mayStart: () => this.open,
      moved: (s, to) => this.roomMoved(s, to),
      gone: (s) => this.whereNotMember(s),
      failed: (s, error) => this.locateFailed(s, error),
    });
  }

  private get open(): boolean {
    return this.d.clientState() === 'open';
  }

  // ---- join and leave ------------------------------------------------------------

  /** joining → joined. Rejects with ALREADY_JOINED while the room is in any state. */
  async join(room: string, nick: string, key: string | undefined): Promise<JoinedReply> {
    if (this.table.get(room)) throw clientError('ALREADY_JOINED', room);
    const retry = new JoinRetry({
      clock: this.d.clock,
      policy: { initialMs: REJOIN_DEFAULTS.initialMs, maxMs: REJOIN_DEFAULTS.maxMs, maxAttempts: this.d.opts.joinAttempts },
      random: this.d.opts.random,
      join: () => this.d.joins.send(room, nick, key),
      orphaned: (j) => this.placeJoined(j),
    });
    const st = this.table.joining(room, nick, key, retry);
    try {
      const joined = await retry.start();
      if (!this.open) {
        // close() began while we waited: give the membership straight back.
        this.d.joins.giveBack(joined);
        throw clientError('CLOSED');
      }
      const s = this.newSession(st, joined);
      this.table.joined(st, s);
      s.start();
      return joined;
    } finally {
      if (st.status === 'joining') this.table.forget(st);
    }
  }

  /** joined, rejoining → leaving → gone. A leave already running is shared. */
  leave(room: string): Promise<void> {
    const st = this.table.get(room);
    if (st?.status === 'leaving') return st.left!;
    let leaving: Promise<void>;
    if (st?.status === 'rejoining') leaving = this.abandonRejoin(st, st.rejoin!);
    else if (st?.status === 'joined') leaving = this.leaveSession(st.session!);
    else return Promise.reject(clientError('NOT_JOINED', room));
    const left = leaving.finally(() => this.table.forget(st));
    this.table.leaving(st, left);
    return left;
  }

  private leaveSession(s: RoomSession): Promise<void> {
    s.stopHeartbeats();
    const st = this.table.get(s.room);
    if (st?.session === s) this.locating.stop(st);
    const deps = {
      requests: this.d.requests,
      control: this.d.control,
      id: nanoid(),
      maxAttempts: this.d.opts.maxAttempts,
    };
    return leaveRoom(deps, s).finally(() => this.dropSession(s));
  }

  /** leave() during a rejoin: it stops; a join attempt on the wire that succeeds is left properly. */
  private async abandonRejoin(st: RoomState, r: Rejoin): Promise<void> {
    const inFlight = r.inFlight;
    r.stop();
    this.d.requests.failRoom(r.room, clientError('NOT_JOINED', `left ${r.room}`));
    if (!inFlight) return;
    let joined: JoinedReply;
    try {
      joined = await inFlight;
    } catch {
      return; // no membership came of it
    }
    if (this.d.clientState() === 'closed') return;
    const s = this.newSession(st, joined); // no heartbeats: it is left at once
    this.table.leavingWith(st, s);
    await this.leaveSession(s);
  }

  // ---- a membership lost ---------------------------------------------------------

  /** The room answered NOT_MEMBER to the token of its current membership `s` (id: the request it answered). */
  membershipLost(s: RoomSession, id: string | undefined): void {
    const st = this.table.get(s.room);
    if (!st || st.status === 'leaving') return; // an hb answered after our leave: expected
    // A join of ours still on the wire may have replaced this membership
    // (the service replaces an unproven one): its `joined` will switch to
    // the new one. If it brings none, the next hb's NOT_MEMBER tells.
    if (this.d.joins.isRacing(s.room)) return;
    // NOT_MEMBER answering a request that also went out with an earlier
    // membership's token may be about that one: not proof enough. If this
    // membership is gone too, the NOT_MEMBER to its next hb tells.
    if (this.d.roomRequests.sentUnderOtherToken(id, s.token)) return;
    // Just after a switch of memberships at the same endpoint, a NOT_MEMBER
    // without id may answer an hb of the old one: the new one's next hb tells.
    if (id === undefined && this.d.clock.now() < s.notMemberGraceUntil) return;
    this.lost(st, s);
  }

  /** A `where` with the token of membership s, its room's current one, was answered NOT_MEMBER. */
  private whereNotMember(s: RoomSession): void {
    const st = this.table.get(s.room);
    if (!st || st.status !== 'joined' || st.session !== s) return;
    if (this.d.joins.isRacing(s.room)) return; // as in membershipLost
    this.lost(st, s);
  }

  /** Membership s of joined room st is gone: re-joined with autoRejoin, else the room is gone. */
  private lost(st: RoomState, s: RoomSession): void {
    if (this.rejoin(st, 'evicted')) return;
    this.dropSession(s, new ClientError('NOT_MEMBER', `no longer a member of ${s.room}`));
    this.d.fire('evicted', { room: s.room });
    this.d.fire('membership-lost', { room: s.room });
  }

  /** The room of membership `s` is gone (`closed`). */
  roomClosed(s: RoomSession, reason: string): void {
    const st = this.table.get(s.room);
    // `crashed`: the restart policy gave up, and a join creates the room afresh. `shutdown`: the service is going away.
    if (reason === 'crashed' && st?.status === 'joined' && this.rejoin(st, 'crashed')) return;
    this.dropSession(s, clientError('CLOSED', `room ${s.room} closed (${reason})`));
    this.d.fire('closed', { room: s.room, reason });
  }

  /** joined → rejoining, if autoRejoin is on; false when the room is not re-joined. */
  private rejoin(st: RoomState, reason: LossReason): boolean {
    const policy = this.d.opts.autoRejoin;
    if (!policy || !this.open || st.status !== 'joined') return false;
    const s = st.session!;
    // say() and who() in flight are spared: they wait for the new membership.
    this.endSession(st, s, new ClientError('NOT_MEMBER', `no longer a member of ${s.room}`), true);
    const r = new Rejoin(st.room, st.nick, st.key, reason, s.delivered, {
      clock: this.d.clock,
      policy,
      random: this.d.opts.random,
      join: (r) => this.d.joins.send(r.room, r.nick, r.key),
      rejoining: (info) => this.d.fire('rejoining', info),
      succeeded: (r, joined) => this.rejoined(st, r, joined),
      failed: (r, error) => {
        if (st.rejoin === r) this.table.forget(st);
        this.d.requests.failRoom(r.room, clientError('NOT_JOINED', `could not rejoin ${r.room} (${error.code})`));
        this.d.fire('rejoin-failed', { room: r.room, error });
      },
    });
    this.table.rejoining(st, r);
    r.start(); // reports 'rejoining' at once: a listener may leave or close
    return true;
  }

  /** rejoining → joined. */
  private rejoined(st: RoomState, r: Rejoin, joined: JoinedReply): void {
    if (!this.open || this.table.get(st.room) !== st || st.rejoin !== r) {
      if (st.rejoin === r) this.table.forget(st);
      return this.d.joins.giveBack(joined);
    }
    const s = this.newSession(st, joined);
    this.table.joined(st, s);
    s.start();
    this.d.requests.resendRoom(joined.room); // waiting say()s go out now, under the new token
    this.d.fire('rejoined', { room: joined.room, seq: joined.seq, previousSeq: r.previousSeq });
  }

  /** joined → joined: replaces a membership that turned out to be gone with a new one, as a rejoin does. */
  private switchMembership(st: RoomState, joined: JoinedReply): void {
    const old = st.session!;
    const previousSeq = old.delivered;
    const s = this.newSession(st, joined, old.unresponsive);
    this.endSession(st, old, new ClientError('NOT_MEMBER', `no longer a member of ${old.room}`), true);
    this.table.switched(st, s);
    s.start();
    // The same endpoint: hb of the old membership still on the wire may draw NOT_MEMBER after the switch.
    if (sameEndpoint(s.endpoint, old.endpoint)) s.notMemberGraceUntil = this.d.clock.now() + 2 * this.d.rtt.firstDelayMs();
    this.d.requests.resendRoom(joined.room); // waiting say()s go out now, under the new token
    this.d.fire('rejoined', { room: joined.room, seq: joined.seq, previousSeq });
  }

  // ---- a `joined` nobody waits for -----------------------------------------------

  /** A `joined` from the control endpoint: one for a join request that gave up is placed. */
  lateJoined(m: JoinedReply): void {
    if (this.d.joins.takeAbandoned(m)) this.placeJoined(m);
  }

  /**
   * A membership the service granted that no request is waiting for: a
   * `joined` after its request gave up, or one a stopped join or rejoin
   * brought. If the client still wants the room it is adopted;
   * otherwise it is handed back at once.
   *
   * The service replaces a membership that has not proven its address when
   * the same endpoint joins again (protocol "An unproven membership is
   * replaced"), so of two memberships in one room's life (one endpoint)
   * the one with the higher `seq` is the live one.
   */
  private placeJoined(joined: JoinedReply): void {
    const state = this.d.clientState();
    if (state === 'closed') return;
    const room = joined.room;
    const st = this.table.get(room);
    if (state !== 'open' || !st || st.status === 'leaving') return this.d.joins.giveBack(joined);
    switch (st.status) {
      case 'joined': {
        const s = st.session!;
        if (s.token === joined.token) return;
        if (sameEndpoint(this.d.joins.roomEndpoint(joined), s.endpoint) && joined.seq > s.joinedSeq) return this.switchMembership(st, joined);
        return this.d.joins.giveBack(joined);
      }
      case 'joining': {
        const attempt = st.join!.inFlight;
        if (st.join!.adopt(joined)) return this.d.joins.raceWith(room, attempt);
        return this.d.joins.giveBack(joined);
      }
      case 'rejoining': {
        const r = st.rejoin!;
        const attempt = r.inFlight;
        r.stop();
        attempt?.then((j) => this.placeJoined(j), () => {});
        this.d.joins.raceWith(room, attempt);
        return this.rejoined(st, r, joined);
      }
    }
  }

  // ---- what locating a silent room found (client/room-locating.ts) ---------------

  /**
   * The room of membership s is at endpoint `to` now, under the same
   * membership (protocol "Several nodes (cluster mode)"): it goes there,
   * sends hb at once (its reply tells how far the room has got, and the
   * missed range is fetched), and the room's requests still waiting for an
   * answer (say, who) go there at once with the same ids: the room
   * sequences a say once per id, and answers one it sequenced before with
   * its original `msg`.
   */
  private roomMoved(s: RoomSession, to: Endpoint): void {
    const st = this.table.get(s.room);
    if (!this.open || st?.status !== 'joined' || st.session !== s) return;
    this.dropStale(st, to);
    const from = s.endpoint;
    this.table.moved(st, to);
    s.hbNow();
    this.d.requests.resendRoom(s.room);
    this.d.fire('moved', { room: s.room, host: to.host, port: to.port, from: { host: from.host, port: from.port } });
  }

  /** Locating the room of membership s gave up: with autoRejoin, the room is dropped, as a rejoin that gives up. */
  private locateFailed(s: RoomSession, error: ClientError): void {
    const st = this.table.get(s.room);
    if (!this.d.opts.autoRejoin || !this.open || st?.status !== 'joined' || st.session !== s) return;
    this.dropSession(s, clientError('NOT_JOINED', `could not rejoin ${s.room} (${error.code})`));
    this.d.fire('rejoin-failed', { room: s.room, error });
  }

  // ---- memberships ---------------------------------------------------------------

  /**
   * A RoomSession for a `joined` of room st, not yet heartbeating: the
   * caller makes it the room's, then starts it.
   *
   * startSilent: it replaces a membership whose room went silent, so its
   * first hb reply reports the room responsive again.
   */
  private newSession(st: RoomState, joined: JoinedReply, startSilent = false): RoomSession {
    const at = this.d.joins.roomEndpoint(joined);
    this.dropStale(st, at);
    const room = joined.room;
    const s: RoomSession = new RoomSession(joined, at, {
      clock: this.d.clock,
      reorderWaitMs: this.d.opts.reorderWaitMs,
      rtt: this.d.rtt,
      counters: this.d.counters,
      maxAttempts: this.d.opts.maxAttempts,
      startSilent,
      send: (obj) => this.d.out.to(encode(obj), s.endpoint),
      deliver: (e) => (e.type === 'msg' ? this.d.fire('message', e) : this.d.fire('presence', e)),
      gap: (g) => this.d.fire('gap', g),
      unresponsive: (on) => {
        this.d.fire(on ? 'unresponsive' : 'responsive', { room });
        this.silence(s);
      },
      quiet: () => this.silence(s),
    });
    return s;
  }

  /** Membership s went quiet or unresponsive, or was heard again: its room is located while it is either. */
  private silence(s: RoomSession): void {
    if (s.quiet || s.unresponsive) return this.locating.begin(s);
    const st = this.table.get(s.room);
    if (st?.session === s) this.locating.stop(st);
  }

  /**
   * Live rooms never share an endpoint: a membership of another room still
   * at endpoint `at` belongs to a room that is gone from there (its
   * `closed` was lost).
   */
  private dropStale(st: RoomState, at: Endpoint): void {
    const stale = this.table.sessionAt(at);
    if (!stale || stale.room === st.room) return;
    this.dropSession(stale, clientError('CLOSED', `room ${stale.room} is gone`));
    this.d.fire('closed', { room: stale.room, reason: 'gone' });
  }

  /**
   * Ends membership s locally: its timers and `where`s stop, and its room's
   * requests still in flight fail with err, except, when `spareWaiting`,
   * those that wait for a new membership. The caller changes the room's state.
   */
  private endSession(st: RoomState | undefined, s: RoomSession, err: ClientError, spareWaiting: boolean): void {
    s.dispose();
    if (st?.session === s) this.locating.stop(st);
    this.d.requests.failRoom(s.room, err, { spareWaiting });
  }

  /**
   * Membership s is over. If it is its room's, the room is gone, unless it is
   * being left: then only the membership goes, and the leave settles by itself.
   */
  private dropSession(s: RoomSession, err: ClientError = clientError('NOT_JOINED', `left ${s.room}`)): void {
    const st = this.table.get(s.room);
    const current = st?.session === s ? st : undefined;
    this.endSession(current, s, err, false);
    if (!current) return;
    if (current.status === 'leaving') this.table.membershipGone(current);
    else this.table.forget(current);
  }

  // ---- close() -------------------------------------------------------------------

  /** Joins, rejoins and `where`s stop; a join attempt on the wire is abandoned like any request. */
  halt(): void {
    for (const st of this.table.all()) {
      if (st.status === 'joining') st.join!.cancel(clientError('CLOSED'));
      else if (st.status === 'rejoining') {
        st.rejoin!.stop();
        this.table.forget(st);
      } else this.locating.stop(st);
    }
  }

  /** Every membership ends with err; rooms being left stay until their leave settles. */
  dropAll(err: ClientError): void {
    for (const st of this.table.all()) if (st.session) this.dropSession(st.session, err);
  }
}
