// The chat client library: one UDP socket, any number of rooms. Requests are
// retried with the same id (client/requests.ts); incoming datagrams are
// routed by client/inbound.ts; each room has one state (client/room-state.ts),
// changed only by client/room-machine.ts; each membership delivers its
// room's events in seq order exactly once (client/room-session.ts); with
// autoRejoin, a lost membership is joined again by itself
// (client/rejoin.ts); a room that stops answering is asked for at a control
// endpoint, and followed where it moved (client/locate.ts). The client knows
// one control endpoint or several (client/control.ts). Retries start after
// max(retryInitialMs, RTO) (client/rtt.ts). Nothing thrown in a socket
// handler escapes: it becomes an 'error' event, and only when someone
// listens for it; a datagram the OS refused to send is counted as lost
// (stats().sendErrors), not reported (client/outbound.ts).
import { EventEmitter } from 'node:events';
import { nanoid } from 'nanoid';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import type { MemberEntry, MembersReply, MsgEvent, RoomEntry, RoomsReply } from '../lib/wire.js';
import { clientError } from './client-error.js';
import type { ChatClientEvents, JoinInfo } from './client-events.js';
import { ControlRequests, ControlServers } from './control.js';
import { handleDatagram, type Routes } from './inbound.js';
import { JoinRequests } from './join-requests.js';
import { resolveOptions, type ChatClientOptions, type ResolvedOptions } from './options.js';
import { Outbound } from './outbound.js';
import { collectPages, encodePadded } from './paging.js';
import { Requests } from './requests.js';
import { RoomMachine, type ClientState } from './room-machine.js';
import { RoomRequests } from './room-requests.js';
import type { RoomSession } from './room-session.js';
import { RoomTable } from './room-state.js';
import { RttEstimator } from './rtt.js';
import { maxCharsOf, sayOverheadBytes, splitText, textBytes } from './say-size.js';
import { codePoints } from '../lib/schema.js';
import { newCounters, type ClientStats, type Counters } from './stats.js';
import { UdpTransport, type ClientTransport, type RemoteInfo } from './transport.js';

export { ClientError } from './client-error.js';
export type { ChatClientEvents, JoinInfo, MovedInfo, RejoinedInfo, RejoinFailedInfo, MsgEvent, PresenceEvent, RoomEntry, MemberEntry } from './client-events.js';
export type { ChatClientOptions, RejoinPolicy, ServerAddress } from './options.js';
export type { LossReason, RejoiningInfo } from './rejoin.js';
export type { ClientTransport, RemoteInfo } from './transport.js';
export type { GapInfo } from './room-session.js';
export type { ClientStats } from './stats.js';

export class ChatClient extends EventEmitter<ChatClientEvents> {
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private readonly transport: ClientTransport;
  private readonly requests: Requests;
  private readonly control: ControlRequests;
  private readonly out: Outbound;
  private readonly table: RoomTable = new RoomTable();
  private readonly roomRequests: RoomRequests;
  private readonly machine: RoomMachine;
  private readonly rtt: RttEstimator;
  private readonly counters: Counters = newCounters();
  private state: ClientState = 'open';
  private closing: Promise<void> | undefined;

  constructor(options: ChatClientOptions) {
    super();
    this.opts = resolveOptions(options);
    this.clock = options.clock ?? systemClock;
    // One socket for every server: of the first one's family (options.ts checks the others' literals).
    this.transport = options.transport ?? new UdpTransport(this.opts.servers[0]!.host);
    this.rtt = new RttEstimator(this.opts.retryInitialMs);
    this.requests = new Requests(this.clock, this.opts.retryInitialMs, this.opts.maxAttempts, { rtt: this.rtt, counters: this.counters });
    this.out = new Outbound(this.transport, this.counters, (err) => this.report(err));
    this.control = new ControlRequests(new ControlServers(this.opts.servers), this.requests, this.out);
    this.roomRequests = new RoomRequests(this.requests, (room) => this.table.get(room)?.session);
    this.machine = new RoomMachine({
      opts: this.opts,
      clock: this.clock,
      table: this.table,
      requests: this.requests,
      roomRequests: this.roomRequests,
      control: this.control,
      joins: new JoinRequests({
        clock: this.clock,
        control: this.control,
        transport: this.transport,
        random: this.opts.random,
      }),
      out: this.out,
      rtt: this.rtt,
      counters: this.counters,
      clientState: () => this.state,
      fire: (event, ...args) => this.fire(event, ...args),
    });
    const routes: Routes = {
      isControl: (from) => this.control.servers.isControl(from),
      requests: this.requests,
      sessionFrom: (from) => this.table.sessionFrom(from),
      sessionNamed: (room) => this.table.get(room)?.session,
      closed: (s, reason) => this.machine.roomClosed(s, reason),
      membershipLost: (s, id) => this.machine.membershipLost(s, id),
      joined: (m) => this.machine.lateJoined(m),
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
    this.transport.onError?.((err) => this.out.failed(err));
  }

  /**
   * Counters and the round-trip estimate: datagrams sent, sends the OS
   * refused (sendErrors: counted as lost datagrams, never 'error'), resends
   * (retries), `where`s asked for silent rooms (probes), srtt/rttvar and the
   * first retry delay in use.
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

  /**
   * Rooms we are in, including those being re-joined (autoRejoin), in the
   * order they were joined. A room being left is listed until its
   * membership is gone.
   */
  joinedRooms(): string[] {
    return this.table
      .all()
      .filter((st) => st.status === 'rejoining' || st.session !== undefined)
      .map((st) => st.room);
  }

  async join(room: string, nick: string, opts: { key?: string } = {}): Promise<JoinInfo> {
    this.assertOpen();
    const joined = await this.machine.join(room, nick, opts.key);
    const { member, port, members, seq, heartbeatMs, host } = joined;
    return { room: joined.room, member, nick: joined.nick, port, members, seq, heartbeatMs, ...(host === undefined ? {} : { host }) };
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
    return this.machine.leave(room);
  }

  /**
   * Sends a message; resolves with our own echoed `msg` (its acknowledgement).
   * Retried with the same id until acked, under the room's membership of
   * the moment: a membership replaced meanwhile (a rejoin, or a join of ours
   * granted in place of an unproven one) takes it over. With autoRejoin, a
   * lost membership does not fail it: it waits for the new one, within its
   * own retry budget, and fails with NOT_JOINED if the rejoin gives up;
   * without, it fails with NOT_MEMBER. A text whose datagram or echoed msg
   * would exceed maxDatagramBytes fails at once with TOO_LARGE, naming how
   * many characters of it would fit (the room could not say which request
   * it refused, so it would otherwise end in TIMEOUT); splitForSay cuts it up.
   */
  async say(room: string, text: string): Promise<MsgEvent> {
    const id = nanoid();
    const session = this.requireRoom(room);
    const budget = this.textBudget(room, session);
    if (textBytes(text) > budget) {
      const n = maxCharsOf(text, budget);
      throw clientError(
        'TOO_LARGE',
        `this text may have at most ${n} characters (it has ${codePoints(text)}) to fit the ${this.opts.maxDatagramBytes}-byte datagram limit`,
      );
    }
    return this.roomRequests.start<MsgEvent>(
      room,
      id,
      { type: 'say', id, text },
      (m, s) => (m.type === 'msg' && m.member === s.member && m.room === room ? m : undefined),
    );
  }

  /**
   * The text cut into parts that each fit one `say` in the room (see say()):
   * on code-point boundaries, at a space where possible. A text that fits
   * comes back whole.
   */
  splitForSay(room: string, text: string): string[] {
    const budget = this.textBudget(room, this.requireRoom(room));
    return textBytes(text) <= budget ? [text] : splitText(text, budget);
  }

  /**
   * Bytes a say's text may take in the room so that neither the datagram nor
   * the msg the room echoes exceeds maxDatagramBytes. While the room is being
   * re-joined the membership's token and member id are not known yet: the
   * longest the service issues stand in for them.
   */
  private textBudget(room: string, session: RoomSession | undefined): number {
    const nick = session?.nick ?? this.table.get(room)?.nick ?? '';
    const frame = { room, nick, member: session?.member ?? 'm'.repeat(16), token: session?.token ?? 't'.repeat(32) };
    return this.opts.maxDatagramBytes - sayOverheadBytes(frame);
  }

  /** Every room, all pages; requests are padded so each page can fill a datagram. */
  async rooms(): Promise<RoomEntry[]> {
    this.assertOpen();
    if (this.transport.ready) await this.transport.ready();
    const target = Math.floor(this.opts.maxDatagramBytes / 3);
    return collectPages(async (after) => {
      const id = nanoid();
      const req = encodePadded({ type: 'rooms', id, ...(after === undefined ? {} : { after }) }, target);
      const r = await this.control.start<RoomsReply>({
        id,
        body: req,
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
      this.requireRoom(room);
      const r = await this.roomRequests.start<MembersReply>(
        room,
        id,
        body,
        (m) => (m.type === 'members' && m.room === room ? m : undefined),
      );
      return { entries: r.members, more: r.more };
    }, (e) => e.member);
  }

  /** Round trip to a control endpoint (the current one) in ms, measured from the first attempt. */
  async ping(): Promise<number> {
    this.assertOpen();
    if (this.transport.ready) await this.transport.ready();
    const id = nanoid();
    const req = encode({ type: 'ping', id });
    const start = this.clock.now();
    await this.control.start({
      id,
      body: req,
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
    this.machine.halt();
    // Requests in flight are abandoned; only the leaves below still run.
    this.requests.failAll(clientError('CLOSED'));
    if (leave && this.table.all().some((st) => st.session !== undefined)) {
      let timer: Timer | undefined;
      const deadline = new Promise<void>((resolve) => {
        timer = this.clock.setTimeout(resolve, this.opts.closeTimeoutMs);
        timer.unref?.();
      });
      await Promise.race([Promise.allSettled(this.joinedRooms().map((r) => this.leave(r))), deadline]);
      if (timer) this.clock.clearTimeout(timer);
    }
    this.machine.dropAll(clientError('CLOSED'));
    this.requests.failAll(clientError('CLOSED'));
    this.state = 'closed';
    await this.transport.close();
  }

  /** The room's membership (also one being left). Throws unless there is one. */
  private session(room: string): RoomSession {
    this.assertOpen();
    const s = this.table.get(room)?.session;
    if (!s) throw clientError('NOT_JOINED', room);
    return s;
  }

  /** The room's membership; undefined while it is being re-joined. Throws unless we are in the room. */
  private requireRoom(room: string): RoomSession | undefined {
    this.assertOpen();
    const st = this.table.get(room);
    if (!st?.session && st?.status !== 'rejoining') throw clientError('NOT_JOINED', room);
    return st.session;
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
