// The supervisor: owns the control socket and the room registry, forks room
// actors, carries out restart decisions, and shuts everything down. All
// membership operations on one room run through that room's mailbox (a
// p-queue of concurrency 1), so joins racing a room's creation or deletion
// come out right.
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join as joinPath } from 'node:path';
import { nanoid } from 'nanoid';
import PQueue from 'p-queue';
import { systemClock, type Clock } from '../lib/clock.js';
import { decodeDatagram, encode } from '../lib/codec.js';
import { restartPolicyOf, type Config } from '../lib/config.js';
import { endpointKey, type Endpoint } from '../lib/endpoint.js';
import { ChatError, errorInfo, type ErrorInfo } from '../lib/errors.js';
import type { FromRoom } from '../lib/ipc.js';
import type { Logger } from '../lib/logger.js';
import { KeyedBuckets } from '../lib/keyed-buckets.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { ReplayCache } from '../lib/replay-cache.js';
import { fitError, ReplyBudget } from '../lib/reply-budget.js';
import { ControlRequest, echoableId } from '../lib/wire.js';
import { CONTROL_HANDLERS } from './control/index.js';
import type { LineSink } from './log-relay.js';
import { decideRestart, isAbnormal } from './restart-policy.js';
import { RoomEntry } from './room-entry.js';
import { RoomProcess, type Unsolicited } from './room-process.js';

const ROOM_PORT_ATTEMPTS = 5;

/** A request dropped on purpose, unanswered (a flood, a key guesser); logged at a bounded rate. */
export class SilentDrop extends Error {
  constructor(
    readonly event: string,
    message: string,
  ) {
    super(message);
  }
}

export type SupervisorStatus = 'starting' | 'running' | 'stopping' | 'stopped';

/** What a control handler needs to answer one request. */
export interface ControlContext {
  readonly from: Endpoint;
  readonly endpoint: string;
  readonly budget: ReplyBudget;
  readonly reqId: string | undefined;
}

export interface SupervisorOptions {
  config: Config;
  log: Logger;
  /** Where room log lines are relayed (the supervisor's own destination). */
  logSink: LineSink;
  clock?: Clock;
  /** Environment for room processes. */
  roomEnv?: NodeJS.ProcessEnv;
  /** Jitter source for restart backoff. */
  random?: () => number;
}

export class Supervisor {
  status: SupervisorStatus = 'starting';
  readonly config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  readonly rooms = new Map<string, RoomEntry>();
  /** Rooms each client endpoint is in (limit maxRoomsPerEndpoint). */
  readonly endpointRooms = new Map<string, number>();
  /** Successful join/leave outcomes replayed to retries (protocol "Requests and idempotence"). */
  readonly replay: ReplayCache<Buffer>;
  /** Control-plane limits, by source address (see lib/config.ts). */
  readonly limits: {
    control: KeyedBuckets;
    join: KeyedBuckets;
    create: KeyedBuckets;
    badKey: KeyedBuckets;
    errorReply: KeyedBuckets;
  };
  /** Joins and leaves in progress per endpoint (maxPendingPerEndpoint). */
  private readonly pending = new Map<string, number>();
  readonly limitedLog: LogLimiter;
  private readonly logSink: LineSink;
  private readonly roomEnv: NodeJS.ProcessEnv;
  private readonly random: () => number;
  private readonly mailboxes = new Map<string, { queue: PQueue; tasks: number }>();
  /** Every room process not yet exited, including those of rooms being deleted. */
  private readonly live = new Set<RoomProcess>();
  private socket: Socket | undefined;
  private portCursor: number;

  constructor(o: SupervisorOptions) {
    this.config = o.config;
    this.log = o.log;
    this.logSink = o.logSink;
    this.clock = o.clock ?? systemClock;
    this.roomEnv = o.roomEnv ?? process.env;
    this.random = o.random ?? Math.random;
    this.replay = new ReplayCache(this.clock, o.config.idempotenceWindowMs, o.config.idempotenceMaxEntries);
    const c = o.config;
    this.limits = {
      control: new KeyedBuckets(this.clock, c.controlRatePerSec, c.controlBurst),
      join: new KeyedBuckets(this.clock, c.joinRatePerSec, c.joinBurst),
      create: new KeyedBuckets(this.clock, c.roomCreateRatePerSec, c.roomCreateBurst),
      badKey: new KeyedBuckets(this.clock, c.badKeyRatePerSec, c.badKeyBurst),
      errorReply: new KeyedBuckets(this.clock, c.errorReplyRatePerSec, c.errorReplyBurst),
    };
    this.limitedLog = new LogLimiter(o.log, this.clock);
    this.portCursor = o.config.roomPortMin;
  }

  get journalDir(): string {
    return joinPath(this.config.dataDir, 'rooms');
  }

  async start(): Promise<number> {
    // Journals left by an earlier run belong to rooms that no longer exist
    // (a room given up or shut down is a new room next time: seq from 1).
    mkdirSync(this.journalDir, { recursive: true });
    for (const f of readdirSync(this.journalDir)) {
      if (f.endsWith('.jsonl') || f.endsWith('.jsonl.tmp')) this.dropJournal(joinPath(this.journalDir, f));
    }
    const sock = createSocket({ type: this.config.host.includes(':') ? 'udp6' : 'udp4' });
    sock.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo));
    sock.on('error', (err) => this.log.error({ event: 'socket_error', err }, 'control socket error'));
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind({ port: this.config.port, address: this.config.host, exclusive: true }, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.setRecvBufferSize(this.config.socketBufferBytes);
    sock.setSendBufferSize(this.config.socketBufferBytes);
    this.socket = sock;
    this.status = 'running';
    const port = sock.address().port;
    this.log.info({ event: 'listening', host: this.config.host, port, pid: process.pid }, `chatd listening on ${this.config.host}:${port}`);
    return port;
  }

  // ---- control datagrams -------------------------------------------------------

  private onDatagram(buf: Buffer, rinfo: RemoteInfo): void {
    // Port 0 cannot be answered (a forged source): drop before any work.
    if (rinfo.port === 0) return;
    if (!this.limits.control.take(rinfo.address)) {
      return this.limitedLog.warn('control_flood', { from: rinfo.address }, 'control requests over the rate: dropped');
    }
    const from = { address: rinfo.address, port: rinfo.port };
    const budget = new ReplyBudget(buf.length, false);
    const decoded = decodeDatagram(buf, this.config.maxDatagramBytes);
    if (!decoded.ok) return this.drop(from, budget, decoded.error, undefined);
    const v = decoded.value;
    const reqId = echoableId(v['id']);
    const parsed = ControlRequest.parse(v);
    if (!parsed.ok) return this.drop(from, budget, errorInfo(parsed.code, parsed.message), reqId);
    const ctx: ControlContext = { from, endpoint: endpointKey(from), budget, reqId };
    const req = parsed.value;
    const failed = (err: unknown) => {
      if (err instanceof ChatError) return this.replyError(ctx, err.toInfo());
      if (err instanceof SilentDrop) return this.limitedLog.warn(err.event, { from: ctx.endpoint }, err.message);
      this.log.error({ event: 'handler_failed', type: req.type, err }, 'control handler failed');
      this.replyError(ctx, errorInfo('INTERNAL'));
    };
    try {
      // Handlers may throw (sync) or reject (async): both become error replies.
      void dispatchControl(this, req, ctx)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private drop(from: Endpoint, budget: ReplyBudget, e: ErrorInfo, reqId: string | undefined): void {
    this.limitedLog.debug('datagram_dropped', { code: e.code, reason: e.message, from: endpointKey(from) }, 'bad control datagram');
    this.sendError(from, budget, e, reqId);
  }

  replyError(ctx: ControlContext, e: ErrorInfo): void {
    this.sendError(ctx.from, ctx.budget, e, ctx.reqId);
  }

  private sendError(to: Endpoint, budget: ReplyBudget, e: ErrorInfo, reqId: string | undefined): void {
    // Errors go to endpoints that have not proven their address: bounded per source.
    if (!this.limits.errorReply.take(to.address)) return;
    const encoded = fitError(budget, e, reqId);
    if (encoded) this.send(to, encoded);
  }

  /** Sends if the reply budget allows (protocol "Anti-amplification": errors that do not fit are dropped). */
  sendWithin(to: Endpoint, budget: ReplyBudget, encoded: Buffer): boolean {
    if (!budget.take(encoded.length)) return false;
    this.send(to, encoded);
    return true;
  }

  /** Sends to an endpoint that proved its address (or a reply the protocol exempts). */
  send(to: Endpoint, encoded: Buffer): void {
    try {
      this.socket?.send(encoded, to.port, to.address);
    } catch (err) {
      // A bad destination or a closed socket must never take the supervisor down.
      this.log.debug({ event: 'send_failed', to: endpointKey(to), err }, 'send failed');
    }
  }

  /**
   * Runs a join or leave of one endpoint, bounded in number per endpoint:
   * past maxPendingPerEndpoint the request is dropped (a retry flood; the
   * requests in progress will answer).
   */
  async withPending<T>(endpoint: string, fn: () => Promise<T>): Promise<T> {
    const n = this.pending.get(endpoint) ?? 0;
    if (n >= this.config.maxPendingPerEndpoint) throw new SilentDrop('pending_limit', 'too many requests in progress from one endpoint: dropped');
    this.pending.set(endpoint, n + 1);
    try {
      return await fn();
    } finally {
      const left = (this.pending.get(endpoint) ?? 1) - 1;
      if (left <= 0) this.pending.delete(endpoint);
      else this.pending.set(endpoint, left);
    }
  }

  // ---- mailboxes -----------------------------------------------------------------

  /** Runs fn after every earlier membership operation on this room has finished. */
  serialize<T>(room: string, fn: () => Promise<T>): Promise<T> {
    let box = this.mailboxes.get(room);
    if (!box) {
      box = { queue: new PQueue({ concurrency: 1 }), tasks: 0 };
      this.mailboxes.set(room, box);
    }
    const b = box;
    b.tasks++;
    return (b.queue.add(fn) as Promise<T>).finally(() => {
      if (--b.tasks === 0) this.mailboxes.delete(room);
    });
  }

  // ---- room life cycle (call inside the room's mailbox) --------------------------

  async createRoom(name: string, key: string | undefined): Promise<RoomEntry> {
    const entry = new RoomEntry(name, key, joinPath(this.journalDir, `${name}~${nanoid(8)}.jsonl`));
    this.rooms.set(name, entry);
    // With a configured port range, try a few free ports in turn: another
    // program may hold one (the room then fails to bind and says so).
    const candidates = this.config.roomPortMax === 0 ? [0] : this.freeRoomPorts(ROOM_PORT_ATTEMPTS);
    let lastErr: unknown = new ChatError('ROOM_UNAVAILABLE', 'no free room port in the configured range');
    for (const port of candidates) {
      entry.port = port;
      try {
        await this.startIncarnation(entry);
        return entry;
      } catch (err) {
        lastErr = err;
      }
    }
    this.rooms.delete(name);
    this.dropJournal(entry.journalPath);
    throw lastErr;
  }

  /** Up to n ports of [roomPortMin, roomPortMax] that no room holds, starting after the last one handed out. */
  private freeRoomPorts(n: number): number[] {
    const { roomPortMin: lo, roomPortMax: hi } = this.config;
    const used = new Set([...this.rooms.values()].map((e) => e.port));
    const out: number[] = [];
    const span = hi - lo + 1;
    for (let i = 0; i < span && out.length < n; i++) {
      const p = lo + ((this.portCursor - lo + i + span) % span);
      if (!used.has(p)) out.push(p);
    }
    if (out.length > 0) this.portCursor = out[0]! + 1 > hi ? lo : out[0]! + 1;
    return out;
  }

  private async startIncarnation(entry: RoomEntry): Promise<void> {
    entry.incarnation++;
    const proc = new RoomProcess(this.config, this.log, this.logSink, this.roomEnv);
    entry.proc = proc;
    this.live.add(proc);
    proc.on('notice', (m) => this.onNotice(entry, m));
    proc.on('hung', () => {
      // A busy loop cannot answer IPC: kill it and let the restart policy decide.
      this.log.error(
        { event: 'room_hung', room: entry.name, pid: proc.pid, probeTimeoutMs: this.config.probeTimeoutMs },
        'room stopped answering; killing it',
      );
      proc.kill();
    });
    proc.on('exit', (exit) => {
      this.live.delete(proc);
      if (!exit.expected && entry.proc === proc && this.status === 'running') {
        void this.serialize(entry.name, () => this.recover(entry, proc, exit));
      }
    });
    const t0 = this.clock.now();
    entry.port = await proc.start({
      room: entry.name,
      port: entry.port,
      members: entry.records(),
      leaves: entry.recentLeaves,
      journalPath: entry.journalPath,
      incarnation: entry.incarnation,
    });
    entry.status = 'running';
    proc.startProbing();
    this.log.info(
      { event: 'room_started', room: entry.name, pid: proc.pid, port: entry.port, incarnation: entry.incarnation, startMs: this.clock.now() - t0 },
      'room started',
    );
  }

  /** Carries out the restart decision for a room whose process died unexpectedly. */
  private async recover(entry: RoomEntry, proc: RoomProcess, exit: { code: number | null; signal: string | null }): Promise<void> {
    for (;;) {
      if (entry.proc !== proc || this.rooms.get(entry.name) !== entry || this.status !== 'running') return;
      const now = this.clock.now();
      const d = decideRestart(exit, entry.restarts, now, restartPolicyOf(this.config, entry.name), this.random);
      entry.restarts = d.history;
      this.log[d.action === 'restart' ? 'warn' : 'error'](
        {
          event: 'room_exit',
          room: entry.name,
          pid: proc.pid,
          code: exit.code,
          signal: exit.signal,
          restartsInWindow: d.history.length,
          decision: d.action,
          delayMs: d.action === 'restart' ? d.delayMs : undefined,
          reason: d.action === 'give-up' ? d.reason : undefined,
        },
        d.action === 'restart' ? 'room crashed; restarting' : 'room crashed; giving up',
      );
      if (d.action === 'give-up') return this.giveUp(entry, isAbnormal(exit) ? 'crashed' : 'stopped');
      if (d.delayMs > 0) await new Promise<void>((resolve) => this.clock.setTimeout(resolve, d.delayMs));
      if (this.rooms.get(entry.name) !== entry || this.status !== 'running') return;
      try {
        await this.startIncarnation(entry);
        return;
      } catch (err) {
        this.log.error({ event: 'room_restart_failed', room: entry.name, err }, 'room restart failed');
        proc = entry.proc!; // the failed incarnation: the loop goes on for it
        exit = await proc.whenExited();
      }
    }
  }

  /** The room cannot be kept: members hear `closed` from the control endpoint (the room process is dead). */
  private giveUp(entry: RoomEntry, reason: string): void {
    const closed = encode({ type: 'closed', room: entry.name, reason });
    for (const m of entry.members.values()) {
      if (m.proven) this.send(m, closed);
    }
    this.forget(entry);
  }

  /** Removes a room from the registry and its members from the endpoint counts. */
  private forget(entry: RoomEntry): void {
    for (const m of [...entry.members.values()]) this.removeMember(entry, m);
    if (this.rooms.get(entry.name) === entry) this.rooms.delete(entry.name);
    this.dropJournal(entry.journalPath);
  }

  /** A deleted room's journal goes too, unless keepJournals (names are unique per room life, so kept files are never reused). */
  private dropJournal(path: string): void {
    if (!this.config.keepJournals) rmSync(path, { force: true });
  }

  /** Deletes an empty room: its process exits and its port is released. */
  async deleteRoom(entry: RoomEntry, reason: string): Promise<void> {
    entry.status = 'deleting';
    if (this.rooms.get(entry.name) === entry) this.rooms.delete(entry.name);
    const exit = await entry.proc?.stop(reason, this.config.shutdownTimeoutMs);
    this.forget(entry);
    this.log.info({ event: 'room_stopped', room: entry.name, reason, code: exit?.code, signal: exit?.signal }, 'room stopped');
  }

  removeMember(entry: RoomEntry, m: { member: string; endpoint: string }): void {
    const sm = entry.members.get(m.member);
    if (!sm) return;
    entry.remove(sm);
    const n = (this.endpointRooms.get(sm.endpoint) ?? 1) - 1;
    if (n <= 0) this.endpointRooms.delete(sm.endpoint);
    else this.endpointRooms.set(sm.endpoint, n);
  }

  private onNotice(entry: RoomEntry, m: Unsolicited): void {
    const sm = entry.members.get(m.member);
    if (m.type === 'proven') {
      if (sm) sm.proven = true;
      return;
    }
    void this.serialize(entry.name, async () => {
      // A notice from an earlier incarnation still tells the truth about
      // its member (the exit can overtake the last IPC message).
      if (this.rooms.get(entry.name) !== entry) return;
      const cur = entry.members.get(m.member);
      if (!cur) return;
      this.removeMember(entry, cur);
      switch (m.type) {
        case 'left':
          // A lost `left` from the room endpoint is retried at the control endpoint (protocol "Leave after the room is gone").
          this.replay.set(leaveReplayKey(cur.endpoint, entry.name, m.reqId), encode({ type: 'left', id: m.reqId, room: entry.name }));
          entry.rememberLeave({ token: cur.token, address: cur.address, port: cur.port, id: m.reqId, at: this.clock.now() }, this.config.idempotenceWindowMs);
          this.log.info({ event: 'member_left', room: entry.name, member: cur.member, via: 'room' }, 'member left');
          break;
        case 'evicted':
          this.log.info({ event: 'member_evicted', room: entry.name, member: cur.member }, 'member evicted');
          break;
        case 'departed':
          this.log.info({ event: 'member_departed', room: entry.name, member: cur.member }, 'member had left before the room restarted');
          break;
        default: {
          const never: never = m;
          throw new Error(`unhandled notice ${JSON.stringify(never)}`);
        }
      }
      if (entry.members.size === 0) await this.deleteRoom(entry, 'empty');
    }).catch((err: unknown) => this.log.error({ event: 'notice_failed', room: entry.name, err }, 'failed to apply room notice'));
  }

  // ---- shutdown ------------------------------------------------------------------

  /** Stops accepting joins, asks every room to close (members get `closed`), kills stragglers, closes the socket. */
  async stop(): Promise<void> {
    if (this.status === 'stopping' || this.status === 'stopped') return;
    this.status = 'stopping';
    this.log.info({ event: 'shutting_down', rooms: this.rooms.size }, 'shutting down');
    // Through each room's mailbox, so a join in progress finishes (or is
    // undone) before its room closes; joins queued behind see SHUTTING_DOWN.
    const entries = [...this.rooms.values()];
    await Promise.all(
      entries.map((e) =>
        this.serialize(e.name, async () => {
          if (this.rooms.get(e.name) === e) await this.deleteRoom(e, 'shutdown');
        }).catch((err: unknown) => this.log.error({ event: 'room_stop_failed', room: e.name, err }, 'room stop failed')),
      ),
    );
    this.kill(); // anything still alive (a room started in a race) goes now
    this.socket?.close();
    this.status = 'stopped';
    this.log.info({ event: 'stopped' }, 'stopped');
  }

  /** Second signal: no more waiting. */
  kill(): void {
    for (const p of this.live) p.kill();
  }
}

function dispatchControl(sup: Supervisor, req: ControlRequest, ctx: ControlContext): Promise<void> | void {
  switch (req.type) {
    case 'join':
      return CONTROL_HANDLERS.join(sup, req, ctx);
    case 'leave':
      return CONTROL_HANDLERS.leave(sup, req, ctx);
    case 'rooms':
      return CONTROL_HANDLERS.rooms(sup, req, ctx);
    case 'ping':
      return CONTROL_HANDLERS.ping(sup, req, ctx);
    default: {
      const never: never = req;
      throw new Error(`unhandled control request ${JSON.stringify(never)}`);
    }
  }
}

export function joinReplayKey(endpoint: string, room: string, id: string): string {
  return `join\u0000${endpoint}\u0000${room}\u0000${id}`;
}

export function leaveReplayKey(endpoint: string, room: string, id: string): string {
  return `leave\u0000${endpoint}\u0000${room}\u0000${id}`;
}
