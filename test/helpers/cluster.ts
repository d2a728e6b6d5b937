// A chatd cluster for the tests and the bench: NATS JetStream (./nats.ts)
// and n chatd nodes (./chatd.ts), node i alone on 127.0.0.(i+1)
// (./cluster-config.ts), with whole-node faults: a node is its supervisor
// and every process under it, so killing or pausing one is done to its
// whole process tree (./proc-tree.ts). Each call gets its own clusterName,
// so tests running in parallel on one NATS would share nothing either.
// Everything started is killed by pid at t's teardown, and the scratch
// folder (every node's dataDir) removed.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startChatd, type Chatd } from './chatd.js';
import { clusterNodeConfig, defaultReplicas, MAX_LOCAL_NODES, MAX_REPLICAS, nodeAddress } from './cluster-config.js';
import { startNats, type NatsCluster } from './nats.js';
import { freezeTree, killTree, thawTree } from './proc-tree.js';
import { isAlive } from './pids.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface ClusterOptions {
  /** NATS servers: one, or three clustered. */
  nats: 1 | 3;
  /** chatd nodes, 1 to 254. */
  nodes: number;
  /** journalReplicas (default: min(3, nats)). */
  replicas?: number;
  /** Config keys for every node, over the cluster's own keys and the tests' defaults. */
  config?: Record<string, unknown>;
  /** Config keys for node i, over everything else. */
  nodeConfig?: (i: number) => Record<string, unknown>;
}

export interface Cluster {
  nats: NatsCluster;
  /** Node i's running chatd (restartNode replaces the entry); nodes[i].port is its control port on address(i). */
  nodes: Chatd[];
  /** The clusterName every node of this cluster has (unique per startCluster call). */
  clusterName: string;
  /** Node i's address, 127.0.0.(i+1). */
  address(i: number): string;
  /** SIGKILLs node i's supervisor and every process under it; resolves once all of them are gone. */
  killNode(i: number): Promise<void>;
  /** SIGSTOPs node i's whole process tree (a hung machine: sockets stay bound, nothing answers). */
  stopNode(i: number): Promise<void>;
  /** SIGCONTs what stopNode(i) stopped. */
  contNode(i: number): Promise<void>;
  /** Kills what is left of node i, then starts a new chatd with the same config on the same address and port. */
  restartNode(i: number): Promise<Chatd>;
  /** Kills every node (whole trees) and the NATS servers, removes the scratch folder; the teardown does the same if not called. */
  stop(): Promise<void>;
}

/** Events whose `pid` is a process of the node (a room, a pooled process), kept in case it left the tree. */
const CHILD_EVENTS = new Set(['room_started', 'pool_process_forked', 'pool_process_ready']);

/** Pids the node's log reported for processes under it. */
function reportedPids(c: Chatd): number[] {
  const out = new Set<number>();
  for (const l of c.logs) if (CHILD_EVENTS.has(l.event ?? '') && typeof l['roomPid'] === 'number') out.add(l['roomPid']);
  return [...out];
}

let calls = 0;

function uniqueClusterName(): string {
  return `t-${process.pid}-${++calls}-${randomBytes(3).toString('hex')}`;
}

export async function startCluster(t: Teardown, opts: ClusterOptions): Promise<Cluster> {
  const n = opts.nodes;
  if (!Number.isInteger(n) || n < 1 || n > MAX_LOCAL_NODES) throw new RangeError(`nodes must be 1-${MAX_LOCAL_NODES}, got ${n}`);
  const replicas = opts.replicas ?? defaultReplicas(opts.nats);
  if (!Number.isInteger(replicas) || replicas < 1 || replicas > Math.min(MAX_REPLICAS, opts.nats)) {
    throw new RangeError(`replicas must be 1-${Math.min(MAX_REPLICAS, opts.nats)} with ${opts.nats} NATS server(s), got ${replicas}`);
  }
  const clusterName = uniqueClusterName();
  const dir = mkdtempSync(join(tmpdir(), 'chatd-cluster-'));
  // Every chatd ever started here, restarted ones included: the teardown kills all of them.
  const started: Chatd[] = [];
  const frozen = new Map<number, number[]>();
  let nats: NatsCluster | undefined;
  let stopped = false;

  const killAll = async () => {
    await Promise.all(
      started.map(async (c) => {
        const pids = reportedPids(c);
        if (isAlive(c.pid) || pids.some(isAlive)) await killTree(c.pid, pids);
        await c.exited;
      }),
    );
  };
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    try {
      await killAll();
    } finally {
      await nats?.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  };
  t.teardown(stop);

  nats = await startNats(t, { servers: opts.nats, jetstream: true });
  const overrides = (i: number): Record<string, unknown> => ({
    ...clusterNodeConfig(i, { natsUrls: nats!.urls, clusterName, replicas, dataDir: join(dir, `node-${i + 1}`, 'data') }),
    ...opts.config,
    ...opts.nodeConfig?.(i),
  });
  const launch = async (i: number, port: number): Promise<Chatd> => {
    if (stopped) throw new Error('the cluster was stopped');
    const c = await startChatd(t, overrides(i), {}, { host: nodeAddress(i), port });
    started.push(c);
    return c;
  };
  // All at once, as an operator's service manager would start them.
  const nodes = await Promise.all(Array.from({ length: n }, (_, i) => launch(i, 0)));

  const node = (i: number): Chatd => {
    const c = nodes[i];
    if (!c) throw new RangeError(`no node ${i} (the cluster has nodes 0-${n - 1})`);
    return c;
  };
  const killNode = async (i: number) => {
    const c = node(i);
    frozen.delete(i);
    await killTree(c.pid, reportedPids(c));
    await c.exited;
  };
  return {
    nats,
    nodes,
    clusterName,
    address: (i) => nodeAddress(i),
    killNode,
    stopNode: async (i) => {
      const c = node(i);
      frozen.set(i, await freezeTree(c.pid, reportedPids(c)));
    },
    contNode: async (i) => {
      const c = node(i);
      thawTree(c.pid, frozen.get(i) ?? []);
      frozen.delete(i);
    },
    restartNode: async (i) => {
      const old = node(i);
      await killNode(i);
      const c = await launch(i, old.port);
      nodes[i] = c;
      return c;
    },
    stop,
  };
}
