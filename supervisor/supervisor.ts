// The supervisor: holds the room registry (registry.ts) and the
// control-plane state, and wires the parts that act on them through narrow
// views of itself (deps.ts): the control socket (control-socket.ts, handlers
// in control/), the room life cycle (room-lifecycle.ts), room notices
// (room-notices.ts) and per-room mailboxes (mailboxes.ts). All
// membership operations on one room run through that room's mailbox, so
// joins racing a room's creation or deletion come out right.
import { isIP } from 'node:net';
import { systemClock, type Clock } from '../lib/clock.js';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { ReplayCache } from '../lib/replay-cache.js';
import { dispatchControl } from './control/index.js';
import { createControlLimits, PendingBound, type ControlLimits } from './control-limits.js';
import { ControlSocket, type ControlContext } from './control-socket.js';
import { openDataDir, type DataDirLock } from './data-dir.js';
import { dropStaleJournals } from './journals.js';
import type { LineSink } from './log-relay.js';
import { Mailboxes } from './mailboxes.js';
import type { ClusterPort, Replier, RoomHost, SupervisorDeps, SupervisorStatus } from './deps.js';

export type { SupervisorStatus };
import { endpointKey } from '../lib/endpoint.js';
import { ReplyBudget } from '../lib/reply-budget.js';
import { hostname } from 'node:os';
import { LocalRegistry, type RoomRegistry } from './registry.js';
import type { SpawnRoom } from './room-handle.js';
import { RoomLifecycle } from './room-lifecycle.js';
import type { ForkFn } from './room-process.js';
import { RoomStatsBook } from './admin/room-stats.js';
import type { AdminServer } from './admin/server.js';


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
  /** How room processes are forked (tests inject failures); child_process.fork by default. */
  fork?: ForkFn;
  /** Makes room handles (tests give fakes that run in memory); forked RoomProcesses by default. */
  spawn?: SpawnRoom;
  /** Where control replies go (tests capture them); the control socket by default. */
  reply?: Replier;
}

export class Supervisor implements SupervisorDeps {
  status: SupervisorStatus = 'starting';
  /** Replaced by reconfigure (a reload); the parts read it through the supervisor. */
  config: Config;
  readonly log: Logger;
  readonly clock: Clock;
  /** Rooms, their members and the per-endpoint counts: the one owner of membership. */
  readonly registry: RoomRegistry;
  readonly latestJoins = new Map<string, string>();
  readonly replay: ReplayCache<Buffer>;
  /** Control-plane limits, by source address (see lib/config.ts). */
  readonly limits: ControlLimits;
  readonly pending: PendingBound;
  readonly limitedLog: LogLimiter;
  readonly mailboxes = new Mailboxes();
  readonly control: ControlSocket;
  readonly lifecycle: RoomLifecycle;
  readonly reply: Replier;
  /** dataDir's lock while running (released at exit). */
  dataDir: DataDirLock | undefined;
  /** Cluster mode (natsServers set): this node's part; undefined on a single node. */
  cluster: ClusterPort | undefined;
  /** What the rooms report and what became of them, for the admin listener (supervisor/admin/). */
  readonly stats: RoomStatsBook;
  /** The admin HTTP listener, unless adminHost is ''. */
  admin: AdminServer | undefined;
  /** The control port bound (0 until then). */
  controlPort = 0;
  /** Wall-clock ms of the start, for /status. */
  readonly startedAt: number;

  constructor(o: SupervisorOptions) {
    this.config = o.config;
    this.log = o.log;
    this.clock = o.clock ?? systemClock;
    this.replay = new ReplayCache(this.clock, o.config.idempotenceWindowMs, o.config.idempotenceMaxEntries);
    this.limits = createControlLimits(this.clock, o.config);
    this.registry = new LocalRegistry(this.limits.unproven);
    this.pending = new PendingBound(o.config.maxPendingPerEndpoint);
    this.limitedLog = new LogLimiter(o.log, this.clock);
    this.control = new ControlSocket({
      config: o.config,
      log: o.log,
      limits: this.limits,
      limitedLog: this.limitedLog,
      dispatch: (req, ctx) => dispatchControl(this, req, ctx),
    });
    this.reply = o.reply ?? this.control;
    this.startedAt = this.clock.wall();
    this.stats = new RoomStatsBook(this.clock, {
      labels: () => this.config.metricsRoomLabels,
      statsIntervalMs: () => this.config.statsIntervalMs,
      isCurrent: (entry) => this.registry.isCurrent(entry),
    });
    this.lifecycle = new RoomLifecycle(this, {
      observer: this.stats,
      logSink: o.logSink,
      roomEnv: o.roomEnv ?? process.env,
      random: o.random ?? Math.random,
      ...(o.fork ? { fork: o.fork } : {}),
      ...(o.spawn ? { spawn: o.spawn } : {}),
    });
  }

  /** Rooms are started and stopped by the life cycle. */
  get host(): RoomHost {
    return this.lifecycle;
  }

  get served(): readonly string[] {
    return this.control.served;
  }

  running(): boolean {
    return this.status === 'running';
  }

  advertise(ctx: { readonly local?: string | undefined }): string {
    return this.cluster?.advertise ?? (this.config.advertiseHost || ctx.local || defaultAdvertiseHost(this.config.host, this.served));
  }

  /** Throws DataDirError (dataDir unusable or locked) or the bind error; start-failure.ts tells the operator. */
  async start(): Promise<number> {
    // The lock first: a second chatd on this dataDir must stop before it
    // deletes the running one's journals.
    this.dataDir = openDataDir(this.config, this.log);
    dropStaleJournals(this.config);
    const port = await this.control.listen();
    this.controlPort = port;
    if (this.config.natsServers.length > 0) this.cluster = await this.joinCluster(port);
    const admin = await this.startAdmin();
    this.status = 'running';
    this.lifecycle.fillPool();
    const c = this.config;
    // Members reach rooms on their own UDP ports: a firewall must let them through.
    const roomPorts = c.roomPortMax === 0 ? 'ephemeral' : `${c.roomPortMin}-${c.roomPortMax}`;
    // A wildcard host is served address by address (lib/served-addresses.ts): say which.
    const addresses = this.served;
    this.log.info(
      { event: 'listening', host: c.host, port, addresses, roomPorts, ...(admin ? { admin } : {}) },
      `chatd listening on ${addresses.join(', ')} port ${port}; rooms on UDP ports ${roomPorts}`,
    );
    if (c.roomPortMax === 0 && !isLoopback(c.host)) {
      this.log.info(
        { event: 'room_ports_ephemeral' },
        'rooms take ephemeral UDP ports from the OS: behind a firewall, set roomPortMin/roomPortMax and open that range (and the control port)',
      );
    }
    return port;
  }

  /** The admin listener (/metrics, /status, /healthz, /readyz), unless adminHost is ''; resolves with where it listens. */
  private async startAdmin(): Promise<string | undefined> {
    if (this.config.adminHost === '') return undefined;
    const { AdminServer } = await import('./admin/server.js');
    this.admin = new AdminServer(this);
    const at = await this.admin.listen();
    this.log.info({ event: 'admin_listening', admin: at, auth: this.config.adminToken === '' ? 'none' : 'bearer' }, `admin listener on http://${at}/ (/metrics, /status, /healthz, /readyz)`);
    return at;
  }

  /**
   * Cluster mode: connects to NATS (waiting for it, logged), then serves its
   * part of the room space. NATS is loaded only here.
   */
  private async joinCluster(port: number): Promise<ClusterPort> {
    const c = this.config;
    const node = c.nodeName || `${hostname().replace(/[^A-Za-z0-9_-]/g, '-').slice(0, 50)}-${port}`;
    const advertise = c.advertiseHost || defaultAdvertiseHost(c.host, this.served);
    this.log.info({ event: 'cluster_connecting', node, natsServers: c.natsServers }, 'connecting to NATS');
    const { Cluster } = await import('./cluster/cluster.js');
    return Cluster.start({
      config: c,
      log: this.log,
      clock: this.clock,
      node,
      advertise,
      controlPort: port,
      hooks: {
        handle: async (req, from, bytes, answer) => {
          const ctx: ControlContext = { from, local: undefined, endpoint: endpointKey(from), budget: new ReplyBudget(bytes, false), bytes, reqId: req.id, forwarded: answer };
          await dispatchControl(this, req, ctx);
        },
        adopt: (room, rec) => this.mailboxes.serialize(room, () => this.lifecycle.adoptRoom(room, rec.entry.keyHash)),
        lost: (room) =>
          void this.mailboxes
            .serialize(room, async () => {
              const e = this.registry.get(room);
              if (e) await this.lifecycle.releaseRoom(e);
            })
            .catch((err: unknown) => this.log.error({ event: 'room_release_failed', room, err }, 'room release failed')),
        local: () => this.registry.list().filter((e) => e.state === 'running').map((e) => ({ room: e.name, members: e.members.size })),
      },
    });
  }

  /** Stops accepting joins, asks every room to close (members get `closed`), kills stragglers, closes the socket. */
  async stop(): Promise<void> {
    if (this.status === 'stopping' || this.status === 'stopped') return;
    this.status = 'stopping';
    this.log.info({ event: 'shutting_down', rooms: this.registry.size }, 'shutting down');
    if (this.cluster) return this.leaveCluster(this.cluster);
    // Through each room's mailbox, so a join in progress finishes (or is
    // undone) before its room closes; joins queued behind see SHUTTING_DOWN.
    const entries = this.registry.list();
    await Promise.all(
      entries.map((e) =>
        this.mailboxes.serialize(e.name, async () => {
          if (this.registry.isCurrent(e)) await this.lifecycle.deleteRoom(e, 'shutdown');
        }).catch((err: unknown) => this.log.error({ event: 'room_stop_failed', room: e.name, err }, 'room stop failed')),
      ),
    );
    this.kill(); // anything still alive (a room started in a race) goes now
    this.control.close();
    await this.admin?.close();
    this.status = 'stopped';
    this.log.info({ event: 'stopped' }, 'stopped');
  }

  /**
   * Cluster mode: a node that stops hands its rooms to the others instead of
   * closing them: each room stops without a word to its members and its
   * directory record is orphaned, so another node takes it over at once
   * (members carry on there after `where`).
   */
  private async leaveCluster(cluster: ClusterPort): Promise<void> {
    const entries = this.registry.list();
    await Promise.all(
      entries.map((e) =>
        this.mailboxes.serialize(e.name, async () => {
          if (!this.registry.isCurrent(e)) return;
          await this.lifecycle.releaseRoom(e);
          await cluster.abandon(e.name);
        }).catch((err: unknown) => this.log.error({ event: 'room_stop_failed', room: e.name, err }, 'room stop failed')),
      ),
    );
    this.kill();
    await cluster.stop();
    this.control.close();
    await this.admin?.close();
    this.status = 'stopped';
    this.log.info({ event: 'stopped', handedOver: entries.length }, 'stopped; rooms handed to the other nodes');
  }

  /**
   * A config reload (reload.ts has kept the keys that need a restart): the
   * supervisor's limits, timeouts and policies, and every room.
   */
  reconfigure(next: Config): void {
    this.config = next;
    this.limits.retune(next);
    this.pending.maxPendingPerEndpoint = next.maxPendingPerEndpoint;
    this.log.level = next.logLevel;
    this.lifecycle.reconfigure(next);
  }

  /** Second signal: no more waiting. */
  kill(): void {
    this.lifecycle.killAll();
  }
}

/**
 * The address clients are told when nothing more specific is known: the
 * configured host if it is one address, else the first served address that
 * is not loopback (a wildcard serves every local address), else loopback.
 */
export function defaultAdvertiseHost(host: string, served: readonly string[]): string {
  if (isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::') return host;
  return served.find((a) => !isLoopback(a)) ?? served[0] ?? '127.0.0.1';
}

function isLoopback(host: string): boolean {
  return host.startsWith('127.') || host === '::1' || host === 'localhost';
}
