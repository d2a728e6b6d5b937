// The chat client library: one UDP socket, any number of rooms. Requests are
// retried with the same id (client/requests.ts); incoming datagrams are
// routed by client/inbound.ts; each membership delivers its room's events in
// seq order exactly once (client/room-session.ts). Nothing thrown in a
// socket handler escapes: it becomes an 'error' event, and only when someone
// listens for it.
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
} from '../lib/wire.js';
import { ClientError, clientError } from './client-error.js';
import { resolveOptions, type ChatClientOptions, type ResolvedOptions } from './options.js';
import { handleDatagram, serverAddressOf, type Routes } from './inbound.js';
import { leaveRoom } from './leave.js';
import { collectPages, encodePadded } from './paging.js';
import { Requests } from './requests.js';
import { RoomSession, type GapInfo } from './room-session.js';
import { UdpTransport, type ClientTransport, type RemoteInfo } from './transport.js';

export { ClientError } from './client-error.js';
export type { ChatClientOptions } from './options.js';
export type { ClientTransport, RemoteInfo } from './transport.js';
export type { GapInfo } from './room-session.js';
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

export interface ChatClientEvents {
  message: [MsgEvent];
  presence: [PresenceEvent];
  closed: [{ room: string; reason: string }];
  gap: [GapInfo];
  /** The room answered NOT_MEMBER to our token (usually an eviction); emitted together with 'membership-lost'. */
  evicted: [{ room: string }];
  'membership-lost': [{ room: string }];
  error: [Error];
}

type State = 'open' | 'closing' | 'closed';

export class ChatClient extends EventEmitter<ChatClientEvents> {
  private readonly opts: ResolvedOptions;
  private readonly clock: Clock;
  private readonly transport: ClientTransport;
  private readonly requests: Requests;
  private readonly sessions = new Map<string, RoomSession>();
  private readonly byPort = new Map<number, RoomSession>();
  private readonly joining = new Set<string>();
  private readonly leaving = new Map<string, Promise<void>>();
  private state: State = 'open';
  private closing: Promise<void> | undefined;

  constructor(options: ChatClientOptions) {
    super();
    this.opts = resolveOptions(options);
    this.clock = options.clock ?? systemClock;
    this.transport = options.transport ?? new UdpTransport(this.opts.host);
    this.requests = new Requests(this.clock, this.opts.retryInitialMs, this.opts.maxAttempts);
    const routes: Routes = {
      controlPort: this.opts.port,
      serverAddress: serverAddressOf(this.opts.host),
      requests: this.requests,
      sessionAt: (port) => this.byPort.get(port),
      sessionNamed: (room) => this.sessions.get(room),
      closed: (s, reason) => {
        this.dropSession(s, clientError('CLOSED', `room ${s.room} closed (${reason})`));
        this.fire('closed', { room: s.room, reason });
      },
      membershipLost: (s) => this.membershipLost(s),
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
    this.transport.onError?.((err) => this.report(err));
  }

  /** Resolves once the socket is bound, so address() works. Every request waits for it implicitly. */
  async ready(): Promise<void> {
    await this.transport.ready?.();
  }

  /** The local UDP endpoint (after ready()). */
  address(): RemoteInfo {
    return this.transport.address();
  }

  joinedRooms(): string[] {
    return [...this.sessions.keys()];
  }

  async join(room: string, nick: string, opts: { key?: string } = {}): Promise<JoinInfo> {
    this.assertOpen();
    if (this.sessions.has(room) || this.joining.has(room)) throw clientError('ALREADY_JOINED', room);
    this.joining.add(room);
    try {
      if (this.transport.ready) await this.transport.ready();
      const id = nanoid();
      const req = encode({ type: 'join', id, room, nick, ...(opts.key === undefined ? {} : { key: opts.key }) });
      const joined = await this.requests.start<JoinedReply>({
        id,
        ports: [this.opts.port],
        send: () => this.sendControl(req),
        accept: (m) => (m.type === 'joined' ? m : undefined),
      });
      if (this.state !== 'open') {
        // close() began while we waited: give the membership straight back.
        this.sendControl(encode({ type: 'leave', id: nanoid(), room: joined.room, token: joined.token }));
        throw clientError('CLOSED');
      }
      this.startSession(joined);
      const { member, port, members, seq, heartbeatMs } = joined;
      return { room: joined.room, member, nick: joined.nick, port, members, seq, heartbeatMs };
    } finally {
      this.joining.delete(room);
    }
  }

  /**
   * Leaves a room (client/leave.ts): room endpoint first, then the control
   * endpoint with the same id. Resolves also when the membership turns out
   * to be gone already (NOT_MEMBER, `closed`); rejects with TIMEOUT when
   * nobody answered. The room is dropped locally in every case.
   */
  leave(room: string): Promise<void> {
    const s = this.sessions.get(room);
    if (!s) return Promise.reject(clientError('NOT_JOINED', room));
    const running = this.leaving.get(room);
    if (running) return running;
    s.stopHeartbeats();
    const deps = {
      requests: this.requests,
      id: nanoid(),
      controlPort: this.opts.port,
      maxAttempts: this.opts.maxAttempts,
      sendControl: (b: Buffer) => this.sendControl(b),
    };
    const done = leaveRoom(deps, s).finally(() => {
      this.leaving.delete(room);
      this.dropSession(s);
    });
    this.leaving.set(room, done);
    return done;
  }

  /** Sends a message; resolves with our own echoed `msg` (its acknowledgement). Retried with the same id until acked. */
  async say(room: string, text: string): Promise<MsgEvent> {
    const s = this.session(room);
    const id = nanoid();
    return this.requests.start<MsgEvent>({
      id,
      room,
      ports: [s.port],
      send: () => s.send({ type: 'say', id, text }),
      accept: (m) => (m.type === 'msg' && m.member === s.member && m.room === room ? m : undefined),
    });
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

  /** The room's roster, all pages. */
  async who(room: string): Promise<MemberEntry[]> {
    const s = this.session(room);
    return collectPages(async (after) => {
      const id = nanoid();
      const r = await this.requests.start<MembersReply>({
        id,
        room,
        ports: [s.port],
        send: () => s.send({ type: 'who', id, ...(after === undefined ? {} : { after }) }),
        accept: (m) => (m.type === 'members' && m.room === room ? m : undefined),
      });
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
   * 'evicted') from the NOT_MEMBER answer to its next datagram there.
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

  private membershipLost(s: RoomSession): void {
    if (this.leaving.has(s.room)) return; // an hb answered after our leave: expected
    this.dropSession(s, new ClientError('NOT_MEMBER', `no longer a member of ${s.room}`));
    this.fire('evicted', { room: s.room });
    this.fire('membership-lost', { room: s.room });
  }

  // ---- sessions --------------------------------------------------------------------

  private startSession(joined: JoinedReply): void {
    // Live rooms never share a port: a session still on this port belongs to
    // a room that is gone (its `closed` was lost).
    const stale = this.byPort.get(joined.port);
    if (stale) {
      this.dropSession(stale, clientError('CLOSED', `room ${stale.room} is gone`));
      this.fire('closed', { room: stale.room, reason: 'gone' });
    }
    const s = new RoomSession(joined, {
      clock: this.clock,
      reorderWaitMs: this.opts.reorderWaitMs,
      retryInitialMs: this.opts.retryInitialMs,
      maxAttempts: this.opts.maxAttempts,
      send: (obj) => this.transport.send(encode(obj), joined.port, this.opts.host),
      deliver: (e) => (e.type === 'msg' ? this.fire('message', e) : this.fire('presence', e)),
      gap: (g) => this.fire('gap', g),
    });
    this.sessions.set(s.room, s);
    this.byPort.set(s.port, s);
    s.start();
  }

  /** Ends a membership locally; its requests still in flight fail with err. */
  private dropSession(s: RoomSession, err: ClientError = clientError('NOT_JOINED', `left ${s.room}`)): void {
    s.dispose();
    if (this.sessions.get(s.room) === s) this.sessions.delete(s.room);
    if (this.byPort.get(s.port) === s) this.byPort.delete(s.port);
    this.requests.failRoom(s.room, err);
  }

  private session(room: string): RoomSession {
    this.assertOpen();
    const s = this.sessions.get(room);
    if (!s) throw clientError('NOT_JOINED', room);
    return s;
  }

  // ---- plumbing ---------------------------------------------------------------------

  private sendControl(buf: Buffer): void {
    this.transport.send(buf, this.opts.port, this.opts.host);
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
