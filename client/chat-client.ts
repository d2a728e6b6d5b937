// The chat client library: one UDP socket, any number of rooms. Requests are
// retried with the same id (client/requests.ts); incoming datagrams are
// routed by client/inbound.ts; each membership delivers its room's events in
// seq order exactly once (client/room-session.ts); with autoRejoin, a lost
// membership is joined again by itself (client/rejoin.ts), and a room that
// stops answering is probed at the control endpoint (client/probe.ts).
// Retries start after max(retryInitialMs, RTO) (client/rtt.ts). Nothing
// thrown in a socket handler escapes: it becomes an 'error' event, and only
// when someone listens for it; a datagram the OS refused to send is counted
// as lost (stats().sendErrors), not reported.
import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import {
  type JoinedReply,
  type MemberEntry,
  type MembersReply,
  type MsgEvent,
  type PresenceEvent,
  type RoomEntry,
  type RoomsReply,
  type ServerMessage,
} from '../lib/wire.js';
import { ClientError, clientError } from './client-error.js';
import { REJOIN_DEFAULTS, resolveOptions, type ChatClientOptions, type ResolvedOptions } from './options.js';
import { handleDatagram, serverAddressOf, type Routes } from './inbound.js';
import { JoinRetry } from './join-retry.js';
import { leaveRoom } from './leave.js';
import { collectPages, encodePadded } from './paging.js';
import { Probe } from './probe.js';
import { Rejoin, type LossReason, type RejoinDeps, type RejoiningInfo } from './rejoin.js';
import { Requests } from './requests.js';
import { RoomSession, UNRESPONSIVE_PERIODS, type GapInfo } from './room-session.js';
import { RttEstimator } from './rtt.js';
import { newCounters, type ClientStats, type Counters } from './stats.js';
import { UdpTransport, isLostDatagram, type ClientTransport, type RemoteInfo } from './transport.js';

export { ClientError } from './client-error.js';
export type { ChatClientOptions, RejoinPolicy } from './options.js';
export type { LossReason, RejoiningInfo } from './rejoin.js';
export type { ClientTransport, RemoteInfo } from './transport.js';
export type { GapInfo } from './room-session.js';
export type { ClientStats } from './stats.js';
export type { MsgEvent, PresenceEvent, RoomEntry, MemberEntry };

export interface JoinInfo {
  room: string;
  member: string;
  nick: string;
  port: number;
  members: number;
  seq: number;
  heartbeatMs: number;
}

export interface RejoinedInfo {
  room: string;
  /** The new membership's joined.seq: delivery goes on after it, as for any new member. */
  seq: number;
  /** The last seq the lost membership delivered in order. */
  previousSeq: number;
}

export interface RejoinFailedInfo {
  room: string;
  /** Why the last attempt failed (BAD_KEY, NICK_TAKEN, TIMEOUT, ...). */
  error: ClientError;
}

export interface ChatClientEvents {
  message: [MsgEvent];
  presence: [PresenceEvent];
  /** The room is gone. With autoRejoin, `crashed` is not reported here: 'rejoining' is. */
  closed: [{ room: string; reason: string }];
  gap: [GapInfo];
  /**
   * The room answered NOT_MEMBER to our token (usually an eviction); emitted
   * together with 'membership-lost'. With autoRejoin, 'rejoining' is emitted instead.
   */
  evicted: [{ room: string }];
  'membership-lost': [{ room: string }];
  /**
   * No hb reply for 3 heartbeat periods: the room process or its host may be
   * dead or unreachable. With autoRejoin the client then probes the control
   * endpoint with a join: if the membership turns out to be gone (a lone
   * member evicted, its room deleted), 'rejoined' follows.
   */
  unresponsive: [{ room: string }];
  /** An unresponsive room answers again. */
  responsive: [{ room: string }];
  /**
   * autoRejoin: the membership was lost (`reason`), and join attempt
   * `attempt` follows after delayMs. Emitted at once on the loss (attempt 1)
   * and before every further attempt. Meanwhile the room stays in
   * joinedRooms() and say()/who() wait for the new membership.
   */
  rejoining: [RejoiningInfo];
  /**
   * autoRejoin: a new membership holds the room; events flow from its own
   * joined.seq (`seq`). Follows 'rejoining', or, without it, a probe of an
   * unresponsive room that found the old membership gone. Anything the room
   * sequenced after previousSeq and up
   * to `seq` may be lost to the application: it is not fetched, because a
   * room that was given up and created again restarts its seq at 1, so old
   * seqs could name other events. No 'gap' is made up for it: this event is
   * the notice. A say() that was in flight at the loss is sent again under
   * the new membership, so it may appear twice if the room had sequenced it
   * before the loss and only its echo was lost.
   */
  rejoined: [RejoinedInfo];
  /**
   * autoRejoin gave up (a final refusal such as BAD_KEY, or maxAttempts
   * spent, by a rejoin or by the probes of an unresponsive room): the room
   * is dropped locally, waiting say()s fail with NOT_JOINED.
   */
  'rejoin-failed': [RejoinFailedInfo];
  error: [Error];
}

type State = 'open' | 'closing' | 'closed';

/** How long the id of a join that gave up is remembered, so its late `joined` is placed; and how many are. */
const ABANDONED_KEEP_MS = 120_000;
const ABANDONED_MAX = 1_024;

export class ChatClient extends EventEmitter<ChatClientEvents> {
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private readonly transport: ClientTransport;
  private readonly requests: Requests;
  private readonly sessions = new Map<string, RoomSession>();
  private readonly byPort = new Map<number, RoomSession>();
  private readonly joining = new Set<string>();
  /** join() calls in progress, by room: a late `joined` of one of their earlier attempts is adopted. */
  private readonly joinRetries = new Map<string, JoinRetry>();
  /** Join requests that gave up (TIMEOUT, a refusal, close), by id: the service may still answer them. */
  private readonly abandonedJoins = new Map<string, { room: string; at: number }>();
  /** A join of ours on the wire for a room whose membership was adopted meanwhile: it may replace that membership. */
  private readonly racingJoins = new Map<string, Promise<JoinedReply>>();
  private readonly leaving = new Map<string, Promise<void>>();
  /** Rooms whose membership was lost and is being joined again (autoRejoin). */
  private readonly rejoins = new Map<string, Rejoin>();
  /** Nick and key each membership joined with, for a rejoin. */
  private readonly credentials = new Map<string, { nick: string; key: string | undefined }>();
  /** The tokens each room request in flight was sent with: tells a stale NOT_MEMBER from a fresh one. */
  private readonly sentWith = new Map<string, Set<string>>();
  /** Unresponsive memberships being probed (autoRejoin), or spent probes until the room answers again. */
  private readonly probes = new Map<RoomSession, Probe>();
  private readonly rtt: RttEstimator;
  private readonly counters: Counters = newCounters();
  private state: State = 'open';
  private closing: Promise<void> | undefined;

  constructor(options: ChatClientOptions) {
    super();
    this.opts = resolveOptions(options);
    this.clock = options.clock ?? systemClock;
    this.transport = options.transport ?? new UdpTransport(this.opts.host);
    this.rtt = new RttEstimator(this.opts.retryInitialMs);
    this.requests = new Requests(this.clock, this.opts.retryInitialMs, this.opts.maxAttempts, { rtt: this.rtt, counters: this.counters });
    const routes: Routes = {
      controlPort: this.opts.port,
      serverAddress: serverAddressOf(this.opts.host),
      requests: this.requests,
      sessionAt: (port) => this.byPort.get(port),
      sessionNamed: (room) => this.sessions.get(room),
      closed: (s, reason) => {
        // `crashed`: the restart policy gave up, and a join creates the room afresh. `shutdown`: the service is going away.
        if (reason === 'crashed' && !this.leaving.has(s.room) && this.beginRejoin(s, 'crashed')) return;
        this.dropSession(s, clientError('CLOSED', `room ${s.room} closed (${reason})`));
        this.fire('closed', { room: s.room, reason });
      },
      membershipLost: (s, id) => this.membershipLost(s, id),
      joined: (m) => this.lateJoined(m),
      report: (err) => this.report(err),
    };
    this.transport.onMessage((buf, from) => {
      if (this.state === 'closed') return;
      try {
        handleDatagram(routes, buf, from);
      } catch (err) {
        this.report(err); // never throw from a socket handler
      }
    });
    this.transport.onError?.((err) => this.sendFailed(err));
  }

  /**
   * Counters and the round-trip estimate: datagrams sent, sends the OS
   * refused (sendErrors: counted as lost datagrams, never 'error'), resends
   * (retries), probes of unresponsive rooms, srtt/rttvar and the first retry
   * delay in use.
   */
  stats(): ClientStats {
    return {
      ...this.counters,
      srttMs: this.rtt.srttMs,
      rttvarMs: this.rtt.rttvarMs,
      rttSamples: this.rtt.samples,
      retryDelayMs: this.rtt.firstDelayMs(),
    };
  }

  /** Resolves once the socket is bound, so address() works. Every request waits for it implicitly. */
  async ready(): Promise<void> {
    await this.transport.ready?.();
  }

  /** The local UDP endpoint (after ready()). */
  address(): RemoteInfo {
    return this.transport.address();
  }

  /** Rooms we are in, including those being re-joined (autoRejoin). */
  joinedRooms(): string[] {
    return [...new Set([...this.sessions.keys(), ...this.rejoins.keys()])];
  }

  async join(room: string, nick: string, opts: { key?: string } = {}): Promise<JoinInfo> {
    this.assertOpen();
    if (this.sessions.has(room) || this.joining.has(room) || this.rejoins.has(room) || this.leaving.has(room)) {
      throw clientError('ALREADY_JOINED', room);
    }
    this.joining.add(room);
    const retry = new JoinRetry({
      clock: this.clock,
      policy: { initialMs: REJOIN_DEFAULTS.initialMs, maxMs: REJOIN_DEFAULTS.maxMs, maxAttempts: this.opts.joinAttempts },
      random: this.opts.random,
      join: () => this.sendJoin(room, nick, opts.key),
      orphaned: (j) => this.placeJoined(j),
    });
    this.joinRetries.set(room, retry);
    try {
      const joined = await retry.start();
      if (this.state !== 'open') {
        // close() began while we waited: give the membership straight back.
        this.giveBack(joined);
        throw clientError('CLOSED');
      }
      this.startSession(joined);
      this.credentials.set(joined.room, { nick, key: opts.key });
      const { member, port, members, seq, heartbeatMs } = joined;
      return { room: joined.room, member, nick: joined.nick, port, members, seq, heartbeatMs };
    } finally {
      this.joining.delete(room);
      if (this.joinRetries.get(room) === retry) this.joinRetries.delete(room);
    }
  }

  /**
   * Leaves a room (client/leave.ts): room endpoint first, then the control
   * endpoint with the same id. Resolves also when the membership turns out
   * to be gone already (NOT_MEMBER, `closed`); rejects with TIMEOUT when
   * nobody answered. The room is dropped locally in every case. During a
   * rejoin it stops the rejoin; a join attempt already on the wire is
   * waited for, and the membership it may bring is left too.
   */
  leave(room: string): Promise<void> {
    const running = this.leaving.get(room);
    if (running) return running;
    const r = this.rejoins.get(room);
    const s = this.sessions.get(room);
    if (!r && !s) return Promise.reject(clientError('NOT_JOINED', room));
    const done = (r ? this.abandonRejoin(r) : this.leaveSession(s!)).finally(() => this.leaving.delete(room));
    this.leaving.set(room, done);
    return done;
  }

  /**
   * Sends a message; resolves with our own echoed `msg` (its acknowledgement).
   * Retried with the same id until acked. With autoRejoin, a lost membership
   * does not fail it: it waits for the new one, within its own retry budget,
   * and fails with NOT_JOINED if the rejoin gives up.
   */
  async say(room: string, text: string): Promise<MsgEvent> {
    const id = nanoid();
    return this.roomRequest<MsgEvent>(room, id, { type: 'say', id, text }, (m, s) =>
      m.type === 'msg' && m.member === s.member && m.room === room ? m : undefined,
    );
  }

  /** Every room, all pages; requests are padded so each page can fill a datagram. */
  async rooms(): Promise<RoomEntry[]> {
    this.assertOpen();
    if (this.transport.ready) await this.transport.ready();
    const target = Math.floor(this.opts.maxDatagramBytes / 3);
    return collectPages(async (after) => {
      const id = nanoid();
      const req = encodePadded({ type: 'rooms', id, ...(after === undefined ? {} : { after }) }, target);
      const r = await this.requests.start<RoomsReply>({
        id,
        ports: [this.opts.port],
        send: () => this.sendControl(req),
        accept: (m) => (m.type === 'rooms' ? m : undefined),
      });
      return { entries: r.rooms, more: r.more };
    }, (e) => e.room);
  }

  /** The room's roster, all pages (with autoRejoin, waits out a rejoin like say()). */
  async who(room: string): Promise<MemberEntry[]> {
    this.requireRoom(room);
    return collectPages(async (after) => {
      const id = nanoid();
      const body = { type: 'who', id, ...(after === undefined ? {} : { after }) };
      const r = await this.roomRequest<MembersReply>(room, id, body, (m) => (m.type === 'members' && m.room === room ? m : undefined));
      return { entries: r.members, more: r.more };
    }, (e) => e.member);
  }

  /** Round trip to the control endpoint in ms, measured from the first attempt. */
  async ping(): Promise<number> {
    this.assertOpen();
    if (this.transport.ready) await this.transport.ready();
    const id = nanoid();
    const req = encode({ type: 'ping', id });
    const start = this.clock.now();
    await this.requests.start({
      id,
      ports: [this.opts.port],
      send: () => this.sendControl(req),
      accept: (m) => (m.type === 'pong' ? true : undefined),
    });
    return this.clock.now() - start;
  }

  /**
   * Test hook: stops heartbeats for a room, so the service evicts us. The
   * room does not tell an evicted member; the client learns it (and emits
   * 'evicted', or 'rejoining' with autoRejoin) from the NOT_MEMBER answer to
   * its next datagram there.
   */
  suspendHeartbeats(room: string): void {
    this.session(room).stopHeartbeats();
  }

  /** Test hook: undoes suspendHeartbeats (the next hb goes out at once). */
  resumeHeartbeats(room: string): void {
    this.session(room).start();
  }

  /**
   * Leaves every room (unless leave: false), for at most closeTimeoutMs, then
   * fails pending requests with CLOSED, stops every timer and closes the socket.
   */
  close(opts: { leave?: boolean } = {}): Promise<void> {
    this.closing ??= this.shutdown(opts.leave ?? true);
    return this.closing;
  }

  private async shutdown(leave: boolean): Promise<void> {
    this.state = 'closing';
    // Joins, rejoins and probes stop; a join attempt on the wire is abandoned like any request.
    for (const j of [...this.joinRetries.values()]) j.cancel(clientError('CLOSED'));
    for (const r of [...this.rejoins.values()]) this.stopRejoin(r);
    for (const s of [...this.probes.keys()]) this.stopProbe(s);
    // Requests in flight are abandoned; only the leaves below still run.
    this.requests.failAll(clientError('CLOSED'));
    if (leave && this.sessions.size > 0) {
      let timer: Timer | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = this.clock.setTimeout(resolve, this.opts.closeTimeoutMs);
        timer.unref?.();
      });
      await Promise.race([Promise.allSettled(this.joinedRooms().map((r) => this.leave(r))), deadline]);
      if (timer) this.clock.clearTimeout(timer);
    }
    for (const s of [...this.sessions.values()]) this.dropSession(s, clientError('CLOSED'));
    this.requests.failAll(clientError('CLOSED'));
    this.state = 'closed';
    await this.transport.close();
  }

  // ---- incoming ------------------------------------------------------------------

  private membershipLost(s: RoomSession, id: string | undefined): void {
    if (this.leaving.has(s.room)) return; // an hb answered after our leave: expected
    // A join of ours still on the wire may have replaced this membership
    // (the service replaces an unproven one): its `joined` will switch to
    // the new one. If it brings none, the next hb's NOT_MEMBER tells.
    if (this.racingJoins.has(s.room)) return;
    // NOT_MEMBER answering a request that also went out with an earlier
    // membership's token may be about that one: not proof enough. If this
    // membership is gone too, the NOT_MEMBER to its next hb tells.
    const tokens = id === undefined ? undefined : this.sentWith.get(id);
    if (tokens && [...tokens].some((tok) => tok !== s.token)) return;
    // Just after a probe switched memberships on the same port, a NOT_MEMBER
    // without id may answer an hb of the old one: the new one's next hb tells.
    if (id === undefined && this.clock.now() < s.notMemberGraceUntil) return;
    if (this.beginRejoin(s, 'evicted')) return;
    this.dropSession(s, new ClientError('NOT_MEMBER', `no longer a member of ${s.room}`));
    this.fire('evicted', { room: s.room });
    this.fire('membership-lost', { room: s.room });
  }

  // ---- rejoin (client/rejoin.ts) --------------------------------------------------

  /** Starts re-joining a lost membership, if autoRejoin is on; false when it is not re-joined. */
  private beginRejoin(s: RoomSession, reason: LossReason): boolean {
    const policy = this.opts.autoRejoin;
    const cred = this.credentials.get(s.room);
    if (!policy || !cred || this.state !== 'open') return false;
    // say() and who() in flight are spared: they wait for the new membership.
    this.dropSession(s, new ClientError('NOT_MEMBER', `no longer a member of ${s.room}`), true);
    const r = new Rejoin(s.room, cred.nick, cred.key, reason, s.delivered, this.rejoinDeps(policy));
    this.rejoins.set(r.room, r);
    r.start();
    return true;
  }

  private rejoinDeps(policy: NonNullable<ResolvedOptions['autoRejoin']>): RejoinDeps {
    return {
      clock: this.clock,
      policy,
      random: this.opts.random,
      join: (r) => this.sendJoin(r.room, r.nick, r.key),
      rejoining: (info) => this.fire('rejoining', info),
      succeeded: (r, joined) => this.rejoinSucceeded(r, joined),
      failed: (r, error) => {
        if (this.rejoins.get(r.room) === r) this.rejoins.delete(r.room);
        this.credentials.delete(r.room);
        this.requests.failRoom(r.room, clientError('NOT_JOINED', `could not rejoin ${r.room} (${error.code})`));
        this.fire('rejoin-failed', { room: r.room, error });
      },
    };
  }

  private rejoinSucceeded(r: Rejoin, joined: JoinedReply): void {
    if (this.rejoins.get(r.room) === r) this.rejoins.delete(r.room);
    if (this.state !== 'open') return this.giveBack(joined);
    this.startSession(joined);
    this.requests.resendRoom(joined.room); // waiting say()s go out now, under the new token
    this.fire('rejoined', { room: joined.room, seq: joined.seq, previousSeq: r.previousSeq });
  }

  private stopRejoin(r: Rejoin): void {
    r.stop();
    if (this.rejoins.get(r.room) === r) this.rejoins.delete(r.room);
    this.credentials.delete(r.room);
  }

  /** leave() during a rejoin: stop it; a join attempt on the wire that succeeds is left properly. */
  private async abandonRejoin(r: Rejoin): Promise<void> {
    const inFlight = r.inFlight;
    this.stopRejoin(r);
    this.requests.failRoom(r.room, clientError('NOT_JOINED', `left ${r.room}`));
    if (!inFlight) return;
    let joined: JoinedReply;
    try {
      joined = await inFlight;
    } catch {
      return; // no membership came of it
    }
    if (this.state === 'closed') return;
    await this.leaveSession(this.startSession(joined, false));
  }

  // ---- probing an unresponsive room (client/probe.ts) -----------------------------

  /** autoRejoin: asks the control endpoint whether a silent room still holds our membership. */
  private beginProbe(s: RoomSession): void {
    const policy = this.opts.autoRejoin;
    const cred = this.credentials.get(s.room);
    if (!policy || !cred || this.state !== 'open' || this.leaving.has(s.room)) return;
    if (this.sessions.get(s.room) !== s || this.probes.has(s)) return;
    const p = new Probe(s.room, {
      clock: this.clock,
      intervalMs: UNRESPONSIVE_PERIODS * s.heartbeatMs,
      maxProbes: policy.maxAttempts,
      join: () => {
        this.counters.probes++;
        return this.sendJoin(s.room, cred.nick, cred.key);
      },
      joined: (p, joined) => {
        if (this.probes.get(s) === p) this.probes.delete(s);
        this.probeJoined(s, joined);
      },
      failed: (p, error) => {
        if (this.probes.get(s) === p) this.probes.delete(s);
        if (this.state !== 'open' || this.sessions.get(s.room) !== s || this.leaving.has(s.room)) return;
        this.dropSession(s, clientError('NOT_JOINED', `could not rejoin ${s.room} (${error.code})`));
        this.fire('rejoin-failed', { room: s.room, error });
      },
      ended: (p) => {
        if (this.probes.get(s) !== p) return;
        this.probes.delete(s);
        // Stopped because the room answered, and silent again since: probe this spell too.
        if (s.unresponsive) this.beginProbe(s);
      },
    });
    this.probes.set(s, p);
    p.start();
  }

  /** No more probes for this membership; a probe on the wire stays listed until it settles. */
  private stopProbe(s: RoomSession): void {
    const p = this.probes.get(s);
    if (!p) return;
    p.stop();
    if (!p.inFlight) this.probes.delete(s);
  }

  /**
   * A probe brought a new membership, so the one it probed was gone. The new
   * membership wins: it replaces the probed session if that is still the
   * room's, or completes a rejoin that began meanwhile; otherwise nobody
   * wants it and it is given back.
   */
  private probeJoined(s: RoomSession, joined: JoinedReply): void {
    if (this.state === 'closed') return;
    const room = s.room;
    if (this.state !== 'open' || this.leaving.has(room)) return this.giveBack(joined);
    if (this.sessions.get(room) === s) return this.switchMembership(s, joined);
    // The membership was lost another way while the probe was out: the probe's join wins the rejoin.
    this.placeJoined(joined);
  }

  // ---- a `joined` nobody waits for --------------------------------------------------

  /** A `joined` from the control endpoint: one for a join request that gave up is placed. */
  private lateJoined(m: JoinedReply): void {
    const abandoned = this.abandonedJoins.get(m.id);
    if (!abandoned || abandoned.room !== m.room) return; // a duplicate answer of a join already settled
    this.abandonedJoins.delete(m.id);
    this.placeJoined(m);
  }

  /**
   * A membership the service granted that no request is waiting for: a
   * `joined` after its request gave up, or one a stopped join, rejoin or
   * probe brought. If the client still wants the room it is adopted;
   * otherwise it is handed back at once (a leave with its token), so it
   * holds no nick or slot until the service drops it.
   *
   * The service replaces a membership that has not proven its address when
   * the same endpoint joins again (protocol "An unproven membership is
   * replaced"), so of two memberships in one room's life (one port) the
   * one with the higher `seq` is the live one.
   */
  private placeJoined(joined: JoinedReply): void {
    if (this.state === 'closed') return;
    const room = joined.room;
    if (this.state !== 'open' || this.leaving.has(room)) return this.giveBack(joined);
    const s = this.sessions.get(room);
    if (s?.token === joined.token) return;
    const jr = this.joinRetries.get(room);
    if (!s && jr) {
      const attempt = jr.inFlight;
      if (jr.adopt(joined)) return this.racing(room, attempt);
    }
    const r = this.rejoins.get(room);
    if (!s && r) {
      const attempt = r.inFlight;
      r.stop();
      attempt?.then((j) => this.placeJoined(j), () => {});
      this.racing(room, attempt);
      return this.rejoinSucceeded(r, joined);
    }
    if (s && joined.port === s.port && joined.seq > s.joinedSeq) return this.switchMembership(s, joined);
    this.giveBack(joined);
  }

  /** Replaces a membership that turned out to be gone with a new one, as a rejoin does. */
  private switchMembership(old: RoomSession, joined: JoinedReply): void {
    const previousSeq = old.delivered;
    this.dropSession(old, new ClientError('NOT_MEMBER', `no longer a member of ${old.room}`), true);
    const s = this.startSession(joined, true, old.unresponsive);
    // The same port: hb of the old membership still on the wire may draw NOT_MEMBER after the switch.
    if (joined.port === old.port) s.notMemberGraceUntil = this.clock.now() + 2 * this.rtt.firstDelayMs();
    this.requests.resendRoom(joined.room); // waiting say()s go out now, under the new token
    this.fire('rejoined', { room: joined.room, seq: joined.seq, previousSeq });
  }

  // ---- sessions --------------------------------------------------------------------

  /**
   * One join request (a new id), retried like any request, its resends
   * jittered. If it gives up, its id is remembered for a while: the service
   * may still answer it (lateJoined).
   */
  private async sendJoin(room: string, nick: string, key: string | undefined): Promise<JoinedReply> {
    if (this.transport.ready) await this.transport.ready();
    const id = nanoid();
    const req = encode({ type: 'join', id, room, nick, ...(key === undefined ? {} : { key }) });
    try {
      return await this.requests.start<JoinedReply>({
        id,
        ports: [this.opts.port],
        send: () => this.sendControl(req),
        accept: (m) => (m.type === 'joined' ? m : undefined),
        measureRtt: false, // the reply may wait for a room process to start
        jitter: this.opts.random,
      });
    } catch (err) {
      this.rememberAbandoned(id, room);
      throw err;
    }
  }

  /** Notes a join on the wire that may replace the membership just adopted, until it settles. */
  private racing(room: string, attempt: Promise<JoinedReply> | undefined): void {
    if (!attempt) return;
    this.racingJoins.set(room, attempt);
    const done = () => {
      if (this.racingJoins.get(room) === attempt) this.racingJoins.delete(room);
    };
    attempt.then(done, done);
  }

  private rememberAbandoned(id: string, room: string): void {
    const now = this.clock.now();
    for (const [k, v] of this.abandonedJoins) {
      if (now - v.at < ABANDONED_KEEP_MS && this.abandonedJoins.size < ABANDONED_MAX) break;
      this.abandonedJoins.delete(k); // oldest first: Map order is insertion order
    }
    this.abandonedJoins.set(id, { room, at: now });
  }

  /** Hands back a membership nobody wants any more (one unacknowledged leave). */
  private giveBack(joined: JoinedReply): void {
    this.sendControl(encode({ type: 'leave', id: nanoid(), room: joined.room, token: joined.token }));
  }

  private leaveSession(s: RoomSession): Promise<void> {
    s.stopHeartbeats();
    this.stopProbe(s);
    const deps = {
      requests: this.requests,
      id: nanoid(),
      controlPort: this.opts.port,
      maxAttempts: this.opts.maxAttempts,
      sendControl: (b: Buffer) => this.sendControl(b),
    };
    return leaveRoom(deps, s).finally(() => this.dropSession(s));
  }

  /**
   * A request at a room's endpoint (say, who). Without autoRejoin it is
   * bound to the current membership. With autoRejoin it follows the room's
   * membership: while a rejoin runs, attempts go nowhere (they still count),
   * NOT_MEMBER does not end it, and the new membership resends it at once.
   */
  private roomRequest<T>(
    room: string,
    id: string,
    body: Record<string, unknown>,
    accept: (m: ServerMessage, s: RoomSession) => T | undefined,
  ): Promise<T> {
    const first = this.requireRoom(room);
    const send = (s: RoomSession) => {
      const tokens = this.sentWith.get(id);
      if (tokens) tokens.add(s.token);
      else this.sentWith.set(id, new Set([s.token]));
      s.send(body);
    };
    if (!this.opts.autoRejoin) {
      const s = first!;
      return this.requests
        .start<T>({ id, room, ports: [s.port], send: () => send(s), accept: (m) => accept(m, s) })
        .finally(() => this.sentWith.delete(id));
    }
    const current = () => this.sessions.get(room);
    return this.requests
      .start<T>({
        id,
        room,
        get ports() {
          const s = current();
          return s ? [s.port] : [];
        },
        send: () => {
          const s = current();
          if (s) send(s);
        },
        accept: (m) => {
          const s = current();
          return s ? accept(m, s) : undefined;
        },
        ignoreCodes: ['NOT_MEMBER'],
        waitsForRejoin: true,
      })
      .finally(() => this.sentWith.delete(id));
  }

  private startSession(joined: JoinedReply, heartbeat = true, startSilent = false): RoomSession {
    // Live rooms never share a port: a session still on this port belongs to
    // a room that is gone (its `closed` was lost).
    const stale = this.byPort.get(joined.port);
    if (stale) {
      this.dropSession(stale, clientError('CLOSED', `room ${stale.room} is gone`));
      this.fire('closed', { room: stale.room, reason: 'gone' });
    }
    const s: RoomSession = new RoomSession(joined, {
      clock: this.clock,
      reorderWaitMs: this.opts.reorderWaitMs,
      rtt: this.rtt,
      counters: this.counters,
      maxAttempts: this.opts.maxAttempts,
      startSilent,
      send: (obj) => this.sendTo(encode(obj), joined.port),
      deliver: (e) => (e.type === 'msg' ? this.fire('message', e) : this.fire('presence', e)),
      gap: (g) => this.fire('gap', g),
      unresponsive: (on) => {
        this.fire(on ? 'unresponsive' : 'responsive', { room: joined.room });
        if (on) this.beginProbe(s);
        else this.stopProbe(s);
      },
    });
    this.sessions.set(s.room, s);
    this.byPort.set(s.port, s);
    if (heartbeat) s.start();
    return s;
  }

  /**
   * Ends a membership locally; its requests still in flight fail with err
   * (except those that wait for a rejoin, when `rejoining`).
   */
  private dropSession(s: RoomSession, err: ClientError = clientError('NOT_JOINED', `left ${s.room}`), rejoining = false): void {
    s.dispose();
    this.stopProbe(s);
    if (this.sessions.get(s.room) === s) this.sessions.delete(s.room);
    if (this.byPort.get(s.port) === s) this.byPort.delete(s.port);
    if (!rejoining && !this.sessions.has(s.room) && !this.rejoins.has(s.room)) this.credentials.delete(s.room);
    this.requests.failRoom(s.room, err, { spareWaiting: rejoining });
  }

  private session(room: string): RoomSession {
    this.assertOpen();
    const s = this.sessions.get(room);
    if (!s) throw clientError('NOT_JOINED', room);
    return s;
  }

  /** The room's membership; undefined while it is being re-joined. Throws unless we are in the room. */
  private requireRoom(room: string): RoomSession | undefined {
    this.assertOpen();
    const s = this.sessions.get(room);
    if (!s && !this.rejoins.has(room)) throw clientError('NOT_JOINED', room);
    return s;
  }

  // ---- plumbing ---------------------------------------------------------------------

  private sendControl(buf: Buffer): void {
    this.sendTo(buf, this.opts.port);
  }

  /** Every datagram goes out here: counted, and a send the OS refuses is a lost datagram. */
  private sendTo(buf: Buffer, port: number): void {
    this.counters.datagramsSent++;
    try {
      this.transport.send(buf, port, this.opts.host);
    } catch (err) {
      this.sendFailed(err);
    }
  }

  /** A transport failure: a lost datagram is counted; anything else is an 'error'. */
  private sendFailed(err: unknown): void {
    if (isLostDatagram(err)) {
      this.counters.sendErrors++;
      return;
    }
    this.report(err);
  }

  private assertOpen(): void {
    if (this.state !== 'open') throw clientError('CLOSED');
  }

  /** Emits without letting a throwing listener break delivery. */
  private fire<K extends Exclude<keyof ChatClientEvents, 'error'>>(event: K, ...args: ChatClientEvents[K]): void {
    try {
      (this.emit as (e: string, ...a: unknown[]) => boolean)(event, ...args);
    } catch (err) {
      this.report(err);
    }
  }

  /** 'error' only when someone listens: an unheard 'error' would throw inside a socket handler. */
  private report(err: unknown): void {
    if (this.listenerCount('error') === 0) return;
    try {
      this.emit('error', err instanceof Error ? err : new Error(String(err)));
    } catch {
      // a throwing 'error' listener has nowhere else to go
    }
  }
}
