// A chatd cluster on separate network stacks (./netns.ts NsBed), so that a
// node can be cut off from NATS by the network while its members still
// reach it, as a real partition does:
//
//   NATS ns      10.199.k.1  ──┐
//   members ns   10.199.k.2  ──┤
//   node 0 ns    10.199.k.10 ──┼── bridge (switch ns)
//   node 1 ns    10.199.k.11 ──┤
//   node 2 ns    10.199.k.12 ──┘
//
// One nats-server (JetStream) and one chatd per node namespace; the cut is
// an nftables table in a node's namespace dropping its TCP to and from the
// NATS client port, and the heal deletes it. destroy() (at the test's
// teardown) kills every process by pid and deletes the namespaces.
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { CHATD_MAIN } from './chatd.js';
import { NsBed, readLines, run, tryRun, type ChatdInNs, type Teardown } from './netns.js';

const NATS_PORT = 4222;
const CUT_TABLE = 'chatd_netns_cut';
/** A start on a loaded 2-core machine: chatd waits for NATS, then makes the stream and buckets. */
const START_TIMEOUT_MS = 20_000;

export interface BedHost {
  ns: string;
  iface: string;
  address: string;
}

export class ClusterBed extends NsBed {
  readonly switchNs: string;
  readonly bridge: string;
  readonly nats: BedHost;
  readonly members: BedHost;
  readonly nodeHosts: BedHost[];

  constructor(nodes: number) {
    super();
    this.switchNs = `${this.prefix}w`;
    this.bridge = `${this.prefix}br`;
    const host = (letter: string, last: number): BedHost => ({ ns: `${this.prefix}${letter}`, iface: `${this.prefix}${letter}0`, address: `10.199.${this.k}.${last}` });
    this.nats = host('n', 1);
    this.members = host('m', 2);
    this.nodeHosts = Array.from({ length: nodes }, (_, i) => host(`c${i}`, 10 + i));
  }

  get natsUrl(): string {
    return `nats://${this.nats.address}:${NATS_PORT}`;
  }

  /** Builds the namespaces, the bridge and the links. On failure, undoes what it made and throws. */
  build(): void {
    this.buildSwitched(this.switchNs, this.bridge, [this.nats, this.members, ...this.nodeHosts]);
  }

  /** Starts nats-server (JetStream) in its namespace; resolves once it says it is ready. */
  async startNats(): Promise<void> {
    const dir = this.tempDir();
    const proc = this.execIn(this.nats.ns, ['nats-server', '-a', this.nats.address, '-p', String(NATS_PORT), '--server_name', 'n0', '-js', '-sd', join(dir, 'js')]);
    await new Promise<void>((resolve, reject) => {
      let log = '';
      const timer = setTimeout(() => reject(new Error(`nats-server not ready after ${START_TIMEOUT_MS} ms: ${log.slice(-2000)}`)), START_TIMEOUT_MS);
      proc.stderr!.on('data', (d: Buffer) => {
        if (log.length < 100_000) log += d.toString();
        if (/Server is ready/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`nats-server exited (${String(code ?? signal)}): ${log.slice(-2000)}`));
      });
    });
  }

  /** Starts chatd node i in its namespace, a node of the cluster on the bed's NATS. */
  async startNode(i: number, config: Record<string, unknown>): Promise<ChatdInNs> {
    const h = this.nodeHosts[i]!;
    const dir = this.tempDir();
    const configPath = join(dir, 'config.json');
    const cfg = { dataDir: join(dir, 'data'), logLevel: 'info', natsServers: [this.natsUrl], nodeName: `node-${i + 1}`, advertiseHost: h.address, adminHost: '', ...config };
    writeFileSync(configPath, JSON.stringify(cfg));
    const proc = this.nodeIn(h.ns, CHATD_MAIN, ['--config', configPath, '--port', '0', '--host', h.address]);
    const r = readLines(proc);
    const listening = await r.wait((l) => l.event === 'listening', START_TIMEOUT_MS, `node ${i} listening`);
    return { proc, pid: proc.pid!, host: h.address, port: listening['port'] as number, logs: r.lines, waitLog: r.wait };
  }

  /** Cuts node i off from NATS: its TCP to and from the NATS client port is dropped; UDP (members) still flows. */
  cut(i: number): void {
    const h = this.nodeHosts[i]!;
    const match = `ip daddr ${this.nats.address} tcp dport ${NATS_PORT}`;
    const back = `ip saddr ${this.nats.address} tcp sport ${NATS_PORT}`;
    run(
      ['ip', 'netns', 'exec', h.ns, 'nft', '-f', '-'],
      `table inet ${CUT_TABLE} {
  chain output { type filter hook output priority 0; policy accept; ${match} drop; }
  chain input { type filter hook input priority 0; policy accept; ${back} drop; }
}
`,
    );
  }

  /** Undoes cut(i). */
  heal(i: number): void {
    tryRun(['ip', 'netns', 'exec', this.nodeHosts[i]!.ns, 'nft', 'delete', 'table', 'inet', CUT_TABLE]);
  }
}

/** Builds a cluster bed whose destroy() runs at the test's teardown, even when the test fails. */
export function createClusterBed(t: Teardown, nodes: number): ClusterBed {
  const bed = new ClusterBed(nodes);
  t.teardown(() => bed.destroy());
  bed.build();
  return bed;
}
