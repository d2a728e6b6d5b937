// A node's part in cluster mode (docs/cluster.md): its NATS connection, the
// room directory's live copy, its lease, forwarded requests, and the
// failover loop that claims orphaned rooms. The supervisor reaches it
// through ClusterPort (deps.ts); the rooms write their own journals
// (rooms/stream-journal.ts). Loaded only when natsServers is set.
import { jetstreamManager, type JetStreamManager } from '@nats-io/jetstream';
import { Kvm, type KV } from '@nats-io/kv';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { nanoid } from 'nanoid';
import type { Clock, Timer } from '../../lib/clock.js';
import type { Config } from '../../lib/config.js';
import type { Peer } from '../../lib/endpoint.js';
import { ChatError } from '../../lib/errors.js';
import type { StreamInit } from '../../lib/ipc.js';
import type { Logger } from '../../lib/logger.js';
import type { ControlRequest } from '../../lib/wire.js';
import type { ClusterPort, Route } from '../deps.js';
import { DirectoryConflict, KvDirectory, type DirEntry, type DirRecord } from './directory.js';
import { FailoverPlanner } from './failover.js';
import { Forwarding, type ForwardedHandler, type Outcome } from './forwarding.js';
import { clusterNames, type ClusterNames } from './names.js';
import { NodeLeases, type LeaseStore, type NodeInfo } from './node-leases.js';

/** Room member counts are pushed to the directory at most this often (they are for `rooms` listings). */
const COUNT_SYNC_MS = 1_000;
/** How long a JetStream stream keeps a msgID for dedupe: longer than any retry of one journal batch. */
const DUPLICATE_WINDOW_NS = 120 * 1e9;

export interface ClusterHooks {
  /** Runs a control request another node forwarded for one of this node's rooms. */
  handle: ForwardedHandler;
  /** This node won an orphaned room: start it from its journal (adopt). */
  adopt(room: string, rec: DirRecord): Promise<void>;
  /** Another node holds this room now: stop serving it here, quietly. */
  lost(room: string): void;
  /** This node's rooms and their member counts. */
  local(): Array<{ room: string; members: number }>;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Cluster implements ClusterPort {
  readonly boot = nanoid(10);
  /** The periodic tasks' next runs (every()), cleared by stop(). */
  private readonly timers = new Set<Timer>();
  private stopped = false;
  private readonly planner: FailoverPlanner;
  private live = new Map<string, string>();
  /** The same nodes with their addresses, for nodes(). */
  private liveInfo = new Map<string, NodeInfo>();
  /** False from a NATS disconnect until the reconnect. */
  private natsUp = true;
  /** Rooms being adopted here: not planned again meanwhile. */
  private readonly adopting = new Set<string>();
  private readonly leaseStore: LeaseStore;
  // Set by start() before anything can call into them.
  private leases!: NodeLeases;
  private hooks!: ClusterHooks;

  private constructor(
    readonly node: string,
    readonly advertise: string,
    private readonly config: Config,
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    readonly names: ClusterNames,
    private readonly directory: KvDirectory,
    private readonly leaseKv: KV,
    private readonly forwarding: Forwarding,
  ) {
    this.planner = new FailoverPlanner(node, config.nodeLeaseMs, clock);
    this.leaseStore = kvLeaseStore(leaseKv);
    void (async () => {
      for await (const s of nc.status()) {
        if (s.type !== 'disconnect' && s.type !== 'reconnect') continue;
        this.natsUp = s.type === 'reconnect';
        log.warn({ event: `nats_${s.type}`, server: (s as { server?: string }).server }, `NATS ${s.type}`);
      }
    })().catch(() => {});
  }

  /** Connects (waiting for NATS as long as it takes), makes the stream and buckets if missing, takes a lease, serves forwarded requests. */
  static async start(o: { config: Config; log: Logger; clock: Clock; node: string; advertise: string; controlPort: number; hooks: ClusterHooks }): Promise<Cluster> {
    const { config: c, log } = o;
    const names = clusterNames(c.clusterName);
    const nc = await connect({ servers: [...c.natsServers], name: `chatd ${o.node}`, maxReconnectAttempts: -1, reconnectTimeWait: 50, waitOnFirstConnect: true, timeout: 5_000 });
    // Until JetStream answers: a node starting beside others may find the
    // stream or a bucket made but without a leader yet (no responders).
    const retry = <T>(what: string, fn: () => Promise<T>) => untilDone(what, fn, o.clock, log);
    const jsm = await retry('the JetStream API', () => jetstreamManager(nc));
    await retry('the journal stream', () => ensureStream(jsm, names, c.journalReplicas, log));
    const kvm = new Kvm(nc);
    const dirKv = await retry('the directory bucket', () => kvm.create(names.directory, { history: 1, replicas: c.journalReplicas }));
    const leaseKv = await retry('the lease bucket', () => kvm.create(names.leases, { history: 1, replicas: c.journalReplicas, ttl: c.nodeLeaseMs }));
    const status = await retry('the lease bucket', () => leaseKv.status());
    if (status.ttl !== c.nodeLeaseMs) {
      log.warn({ event: 'node_lease_mismatch', bucketTtlMs: status.ttl, nodeLeaseMs: c.nodeLeaseMs }, 'the lease bucket was made with another nodeLeaseMs: leases lapse after the bucket\'s, give every node the same value');
    }
    const directory = await retry('the directory', () => KvDirectory.open(dirKv, log));
    const forwarding = new Forwarding(nc, names.nodeSubject, log);
    const cluster = new Cluster(o.node, o.advertise, c, log, o.clock, nc, jsm, names, directory, leaseKv, forwarding);
    const leases = new NodeLeases(cluster.leaseStore, o.clock, { node: o.node, boot: cluster.boot, host: o.advertise, port: o.controlPort }, c.nodeLeaseMs, log);
    cluster.leases = leases;
    await retry('the node lease', () => leases.start());
    forwarding.serve(o.node, o.hooks.handle);
    cluster.hooks = o.hooks;
    cluster.seeLive(await retry('the leases', () => cluster.leaseStore.live()));
    directory.onChange((room, rec) => cluster.changed(room, rec));
    cluster.every(Math.max(50, Math.floor(c.nodeLeaseMs / 8)), () => cluster.failoverTick());
    cluster.every(COUNT_SYNC_MS, () => cluster.syncCounts());
    log.info({ event: 'cluster_joined', node: o.node, boot: cluster.boot, advertise: o.advertise, rooms: directory.list().length, stream: names.stream }, 'joined the cluster');
    return cluster;
  }

  // ---- ClusterPort --------------------------------------------------------------

  route(room: string): Route {
    const rec = this.directory.get(room);
    if (!rec) return { kind: 'free' };
    const e = rec.entry;
    if (e.node === this.node && e.boot === this.boot) return { kind: 'local' };
    // A node not seen in the leases yet is tried: a dead one does not answer, and that is ROOM_UNAVAILABLE too.
    if (e.state === 'running' && (this.live.get(e.node) ?? e.boot) === e.boot) return { kind: 'remote', node: e.node };
    return { kind: 'unavailable' };
  }

  forward(node: string, req: ControlRequest, from: Peer, bytes: number): Promise<Outcome> {
    return this.forwarding.forward(node, req, from, bytes);
  }

  async claimNew(room: string, keyHash: string | undefined): Promise<void> {
    const taken = () => new ChatError('ROOM_UNAVAILABLE', 'the room was just created on another node: ask again');
    const starting = this.entry(0, 'starting', 0, keyHash);
    try {
      await this.directory.create(room, starting);
      return;
    } catch (err) {
      if (!(err instanceof DirectoryConflict)) throw unavailable(err);
    }
    // A record of this node's own that outlived its room (its removal failed while NATS was away) is taken back.
    const rec = this.directory.get(room);
    if (!rec || rec.entry.node !== this.node || rec.entry.boot !== this.boot) throw taken();
    try {
      await this.directory.update(room, starting, rec.revision);
    } catch (err) {
      throw err instanceof DirectoryConflict ? taken() : unavailable(err);
    }
  }

  async serving(room: string, port: number, members: number, keyHash: string | undefined): Promise<void> {
    const rec = this.directory.get(room);
    if (!rec || rec.entry.node !== this.node || rec.entry.boot !== this.boot) throw new ChatError('ROOM_UNAVAILABLE', 'the room is held by another node now');
    try {
      await this.directory.update(room, this.entry(port, 'running', members, keyHash), rec.revision);
    } catch (err) {
      throw unavailable(err);
    }
  }

  async forget(room: string): Promise<void> {
    const rec = this.directory.get(room);
    if (!rec || rec.entry.node !== this.node || rec.entry.boot !== this.boot) return;
    // The journal first: a name freed with its history still there would bring the history back to a new room.
    await this.jsm.streams.purge(this.names.stream, { filter: this.names.roomSubject(room) }).catch((err: unknown) => this.log.warn({ event: 'journal_purge_failed', room, err }, 'could not purge the room\'s journal'));
    await this.directory.remove(room, rec.revision).catch((err: unknown) => this.log.warn({ event: 'directory_remove_failed', room, err }, 'could not free the room\'s name'));
  }

  streamInit(room: string, adopt: boolean): StreamInit {
    return { servers: [...this.config.natsServers], stream: this.names.stream, subject: this.names.roomSubject(room), node: this.node, adopt };
  }

  async abandon(room: string): Promise<void> {
    const rec = this.directory.get(room);
    if (!rec || rec.entry.node !== this.node || rec.entry.boot !== this.boot) return;
    await this.directory.update(room, { ...rec.entry, node: '-', boot: '-', state: 'moving' }, rec.revision).catch(() => {});
  }

  keyHashOf(room: string): string | undefined {
    return this.directory.get(room)?.entry.keyHash;
  }

  listRooms(): Array<{ room: string; members: number }> {
    return this.directory
      .list()
      .filter(([, r]) => r.entry.state !== 'starting')
      .map(([room, r]) => ({ room, members: r.entry.members }));
  }

  holds(): boolean {
    return this.leases.holds();
  }

  nodes(): Array<{ node: string; host: string; port: number; self: boolean }> {
    return [...this.liveInfo]
      .map(([node, i]) => ({ node, host: i.host, port: i.port, self: node === this.node && i.boot === this.boot }))
      .sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  natsConnected(): boolean {
    return this.natsUp && !this.nc.isClosed();
  }

  private seeLive(live: Map<string, NodeInfo>): void {
    this.live = new Map([...live].map(([n, i]) => [n, i.boot]));
    this.liveInfo = live;
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const t of this.timers) this.clock.clearTimeout(t);
    this.leases.stop();
    this.forwarding.close();
    this.directory.close();
    await this.nc.drain().catch(() => {});
  }

  // ---- failover ---------------------------------------------------------------

  private async failoverTick(): Promise<void> {
    let live: Map<string, NodeInfo>;
    try {
      live = await this.leaseStore.live();
    } catch {
      return; // NATS is away: nothing can be judged
    }
    this.seeLive(live);
    const claim = this.planner.plan(this.live, this.directory.list(), this.leases.steadyMs());
    for (const room of claim) {
      if (this.adopting.has(room)) continue;
      const rec = this.directory.get(room);
      if (!rec) continue;
      this.adopting.add(room);
      void this.claimOrphan(room, rec).finally(() => this.adopting.delete(room));
    }
  }

  private async claimOrphan(room: string, rec: DirRecord): Promise<void> {
    const was = rec.entry;
    let revision: number;
    try {
      revision = await this.directory.update(room, { ...this.entry(0, 'moving', was.members, was.keyHash) }, rec.revision);
    } catch (err) {
      if (!(err instanceof DirectoryConflict)) this.log.warn({ event: 'room_claim_failed', room, err }, 'could not claim an orphaned room');
      return; // another node won it
    }
    this.log.warn({ event: 'room_claimed', room, from: was.node, members: was.members }, `room ${room} lost its node ${was.node}; taking it over`);
    try {
      await this.hooks.adopt(room, { entry: this.directory.get(room)?.entry ?? was, revision });
    } catch (err) {
      this.log.error({ event: 'room_takeover_failed', room, err }, 'taking the room over failed; another node may try');
      // Orphaned again, for anyone: a node name no lease holds.
      const cur = this.directory.get(room);
      if (cur && cur.entry.node === this.node) await this.directory.update(room, { ...cur.entry, node: '-', boot: '-', state: 'moving' }, cur.revision).catch(() => {});
    }
  }

  private changed(room: string, rec: DirRecord | undefined): void {
    if (this.stopped) return;
    const mine = this.hooks.local().some((r) => r.room === room);
    if (!mine || this.adopting.has(room)) return;
    if (rec && rec.entry.node === this.node && rec.entry.boot === this.boot) return;
    // Another node holds the room now (this node's lease lapsed): its journal fences this one anyway.
    this.log.warn({ event: 'room_lost', room, to: rec?.entry.node }, 'another node holds this room now');
    this.hooks.lost(room);
  }

  private async syncCounts(): Promise<void> {
    for (const { room, members } of this.hooks.local()) {
      const rec = this.directory.get(room);
      if (!rec || rec.entry.node !== this.node || rec.entry.boot !== this.boot || rec.entry.state !== 'running' || rec.entry.members === members) continue;
      await this.directory.update(room, { ...rec.entry, members }, rec.revision).catch(() => {});
    }
  }

  private entry(port: number, state: DirEntry['state'], members: number, keyHash: string | undefined): DirEntry {
    return { node: this.node, boot: this.boot, host: this.advertise, port, state, members, ...(keyHash ? { keyHash } : {}) };
  }

  /** Runs fn every ms after the last run ended (never two at once), until stop(). */
  private every(ms: number, fn: () => Promise<void>): void {
    const arm = () => {
      if (this.stopped) return;
      const t = this.clock.setTimeout(() => {
        this.timers.delete(t);
        void fn()
          .catch((err: unknown) => this.log.error({ event: 'cluster_task_failed', err }, 'cluster task failed'))
          .finally(arm);
      }, ms);
      t.unref?.();
      this.timers.add(t);
    };
    arm();
  }
}

/** Node leases as keys of the lease bucket, each a NodeInfo. */
function kvLeaseStore(kv: KV): LeaseStore {
  return {
    put: async (node, info) => void (await kv.put(node, enc.encode(JSON.stringify(info)))),
    live: async () => {
      const out = new Map<string, NodeInfo>();
      const keys: string[] = [];
      for await (const k of await kv.keys()) keys.push(k);
      for (const k of keys) {
        const e = await kv.get(k);
        if (e?.operation !== 'PUT') continue;
        try {
          out.set(k, JSON.parse(dec.decode(e.value)) as NodeInfo);
        } catch {
          // a value nobody could have written: not a live node
        }
      }
      return out;
    },
  };
}

/** First retry of a start-time JetStream call; doubles up to the maximum. */
const START_RETRY_MIN_MS = 100;
const START_RETRY_MAX_MS = 2_000;
/** A start still waiting is said again this often. */
const START_WAIT_LOG_MS = 5_000;

/** Runs fn until it succeeds (a node waits for NATS at start), saying so while it waits. */
async function untilDone<T>(what: string, fn: () => Promise<T>, clock: Clock, log: Logger): Promise<T> {
  let lastLog = -Infinity;
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (clock.now() - lastLog >= START_WAIT_LOG_MS) {
        log.warn({ event: 'cluster_start_waiting', what, attempt, reason: (err as Error).message }, `waiting for NATS JetStream: ${what}`);
        lastLog = clock.now();
      }
      await new Promise<void>((resolve) => clock.setTimeout(resolve, Math.min(START_RETRY_MAX_MS, START_RETRY_MIN_MS * 2 ** Math.min(attempt, 10))));
    }
  }
}

function unavailable(err: unknown): ChatError {
  return err instanceof ChatError ? err : new ChatError('ROOM_UNAVAILABLE', 'the room directory is not answering: ask again');
}

async function ensureStream(jsm: JetStreamManager, names: ClusterNames, replicas: number, log: Logger): Promise<void> {
  try {
    const info = await jsm.streams.info(names.stream);
    if (info.config.num_replicas !== replicas) {
      log.warn({ event: 'journal_replicas_mismatch', stream: names.stream, streamReplicas: info.config.num_replicas, journalReplicas: replicas }, 'the journal stream has another replica count than journalReplicas; it is left as it is');
    }
  } catch {
    await jsm.streams.add({ name: names.stream, subjects: [names.roomSubject('>')], num_replicas: replicas, duplicate_window: DUPLICATE_WINDOW_NS });
  }
}
