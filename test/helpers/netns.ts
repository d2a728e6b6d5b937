// A small multi-host test bed made of Linux network namespaces (iproute2):
//
//   server ns ── veth ──┐
//   client a ns ─ veth ─┼── bridge (switch ns)
//   client b ns ─ veth ─┘
//
// Every run gets its own names (prefix `cd<pid%10000><n>`), its own
// 10.199.<k>.0/24 addresses (they exist only inside these namespaces: no
// default route, nothing routed anywhere else) and its own cleanup:
// destroy() SIGKILLs every process started here and every process still
// inside one of its namespaces (by pid), then deletes the namespaces, which
// takes their veth pairs and the bridge with them. Loss is an nftables table
// in a namespace; a slow, queueing link is a `tc tbf` qdisc. The kernel here
// has no netem, so there is no delay, duplication or reordering.
import { execFileSync, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { CHATD_MAIN, type LogLine } from './chatd.js';

export interface Teardown {
  teardown(fn: () => unknown): void;
}

export type Role = 'server' | 'a' | 'b';

export interface Host {
  role: Role;
  /** The namespace name. */
  ns: string;
  /** The interface inside the namespace (its veth end). */
  iface: string;
  address: string;
}

const NFT_TABLE = 'chatd_netns_loss';
const CMD_TIMEOUT_MS = 10_000;
let counter = 0;

/** Runs a command (bounded in time); throws with its stderr when it fails. */
export function run(argv: string[], input?: string): string {
  try {
    return execFileSync(argv[0]!, argv.slice(1), {
      encoding: 'utf8',
      timeout: CMD_TIMEOUT_MS,
      stdio: ['pipe', 'pipe', 'pipe'],
      ...(input === undefined ? {} : { input }),
    });
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`${argv.join(' ')} failed: ${(e.stderr ?? '').trim() || e.message}`);
  }
}

/** run(), reporting only whether it worked. */
export function tryRun(argv: string[]): boolean {
  try {
    run(argv);
    return true;
  } catch {
    return false;
  }
}

/**
 * A prefix no namespace present has yet (`cd<pid mod 10000><n>`): beds of
 * any shape name their namespaces prefix + a letter.
 */
export function uniquePrefix(): string {
  for (;;) {
    const p = `cd${process.pid % 10_000}${counter++}`;
    if (leftoverNamespaces(p).length === 0) return p;
  }
}

/** The k of this run's private 10.199.k.0/24 (1..250). */
export function subnetIndex(): number {
  return ((process.pid + counter) % 250) + 1;
}

let cached: { ok: true } | { ok: false; reason: string } | undefined;

/**
 * Whether this machine can hold the test bed: root, `ip` and `nft` on PATH,
 * and a namespace can actually be created (containers often forbid it).
 */
export function canRun(): { ok: true } | { ok: false; reason: string } {
  cached ??= probe();
  return cached;
}

function probe(): { ok: true } | { ok: false; reason: string } {
  if (process.platform !== 'linux') return { ok: false, reason: `network namespaces need Linux (this is ${process.platform})` };
  if (process.getuid?.() !== 0) return { ok: false, reason: 'network namespace tests need root (ip netns, nft); run as root to include them' };
  if (!tryRun(['ip', '-V'])) return { ok: false, reason: '`ip` (iproute2) is not on PATH; install iproute2' };
  if (!tryRun(['nft', '--version'])) return { ok: false, reason: '`nft` (nftables) is not on PATH; install nftables' };
  const ns = `${uniquePrefix()}p`;
  try {
    run(['ip', 'netns', 'add', ns]);
  } catch (err) {
    return { ok: false, reason: `cannot create a network namespace here: ${(err as Error).message}` };
  }
  try {
    run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'tables']);
  } catch (err) {
    return { ok: false, reason: `nft does not work inside a network namespace: ${(err as Error).message}` };
  } finally {
    tryRun(['ip', 'netns', 'del', ns]);
  }
  return { ok: true };
}

export interface LineReader {
  lines: LogLine[];
  /** Resolves with the first line (already read or to come) matching pred; rejects on timeout or exit. */
  wait(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stderr(): string;
}

/** Collects a child's stdout as JSON lines (others become {event: 'unparsed'}). */
export function readLines(proc: ChildProcess): LineReader {
  const lines: LogLine[] = [];
  const waiters = new Set<() => void>();
  let err = '';
  let done = false;
  proc.stderr?.on('data', (d: Buffer) => {
    if (err.length < 20_000) err += d.toString();
  });
  if (proc.stdout) {
    createInterface({ input: proc.stdout }).on('line', (line) => {
      try {
        lines.push(JSON.parse(line) as LogLine);
      } catch {
        lines.push({ event: 'unparsed', line });
      }
      for (const w of waiters) w();
    });
  }
  // 'close' (not 'exit'): stdout has been read to the end by then.
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('close', (code, signal) => {
      done = true;
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  const wait = (pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (hit) {
          finish();
          resolve(hit);
        } else if (done) {
          finish();
          reject(new Error(`process ${proc.pid} exited before ${what}; stderr: ${err.slice(-2000)}`));
        }
      };
      const timer = setTimeout(() => {
        finish();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${err.slice(-2000)}`));
      }, timeoutMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  return { lines, wait, exited, stderr: () => err };
}

export interface RateLimit {
  /** Link rate in kbit/s. */
  rateKbit: number;
  /** Bucket size in bytes (at least one full frame). @default 4096 */
  burstBytes?: number;
  /** Longest a packet may wait in the queue before it is dropped. @default 400 */
  latencyMs?: number;
}

export interface ChatdInNs {
  proc: ChildProcess;
  pid: number;
  host: string;
  port: number;
  logs: LogLine[];
  waitLog(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
}

/**
 * What every test bed shares: its namespaces, the processes it started in
 * them, its temp dirs, and the cleanup of all three. Subclasses add the
 * links (build()) and name their namespaces prefix + a letter.
 */
export class NsBed {
  readonly prefix: string;
  /** This run's private 10.199.k.0/24: addresses of a bed exist only inside its namespaces. */
  readonly k: number;
  private readonly namespaces: string[] = [];
  private readonly procs: ChildProcess[] = [];
  private readonly dirs: string[] = [];
  private destroyed = false;

  constructor() {
    this.prefix = uniquePrefix();
    this.k = subnetIndex();
  }

  /** Creates a namespace (lo up) that destroy() deletes. */
  protected addNamespace(ns: string): void {
    run(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    run(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
  }

  /** Spawns argv inside the namespace (`ip netns exec` execs it: the child's pid is the program's own). */
  execIn(ns: string, argv: string[], opts: SpawnOptions = {}): ChildProcess {
    if (this.destroyed) throw new Error('test bed destroyed');
    const proc = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], ...opts });
    this.procs.push(proc);
    return proc;
  }

  /** Runs a node program inside the namespace. */
  nodeIn(ns: string, script: string, args: string[], opts: SpawnOptions = {}): ChildProcess {
    return this.execIn(ns, [process.execPath, script, ...args], opts);
  }

  /** A temp dir removed by destroy(). */
  tempDir(): string {
    const dir = mkdtempSync(join(tmpdir(), `${this.prefix}-`));
    this.dirs.push(dir);
    return dir;
  }

  /**
   * Starts the compiled chatd in a namespace, bound to `listen`, port 0
   * (read back from the `listening` line), with a temp config and data dir;
   * `reach` is the address clients are to use (the one it is bound to, unless
   * that is a wildcard).
   */
  async startChatdIn(ns: string, listen: string, reach: string, overrides: Record<string, unknown> = {}): Promise<ChatdInNs> {
    const dir = this.tempDir();
    const configPath = join(dir, 'config.json');
    // No admin listener: a namespace's loopback may be down.
    writeFileSync(configPath, JSON.stringify({ dataDir: join(dir, 'data'), logLevel: 'info', adminHost: '', ...overrides }));
    const proc = this.nodeIn(ns, CHATD_MAIN, ['--config', configPath, '--port', '0', '--host', listen]);
    const r = readLines(proc);
    const listening = await r.wait((l) => l.event === 'listening', 10_000, 'chatd listening');
    return { proc, pid: proc.pid!, host: reach, port: listening['port'] as number, logs: r.lines, waitLog: r.wait };
  }

  /** Pids of every process inside one of our namespaces. */
  pidsInside(): number[] {
    const pids: number[] = [];
    for (const ns of this.namespaces) {
      try {
        for (const p of run(['ip', 'netns', 'pids', ns]).split('\n')) if (/^\d+$/.test(p.trim())) pids.push(Number(p));
      } catch {
        /* namespace gone */
      }
    }
    return pids;
  }

  /**
   * Kills every process started here and every process left in our
   * namespaces (SIGKILL, by pid), waits for them to go, then deletes the
   * namespaces (their links and bridges go with them) and temp dirs.
   * Safe to call twice.
   */
  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    const until = Date.now() + 5_000;
    for (;;) {
      const pids = new Set([...this.procs.filter((p) => p.exitCode === null && p.signalCode === null).map((p) => p.pid!), ...this.pidsInside()]);
      if (pids.size === 0 || Date.now() > until) break;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* already gone */
        }
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.removeNamespaces();
    for (const d of this.dirs) rmSync(d, { recursive: true, force: true });
  }

  /** Deletes the namespaces made so far (build() undoing a half-made bed). */
  /**
   * A switch namespace with a bridge, and each host namespace linked to it
   * by a veth pair with its address on its end. On failure, undoes what it
   * made and throws.
   */
  protected buildSwitched(sw: string, bridge: string, hosts: ReadonlyArray<{ ns: string; iface: string; address: string }>): void {
    try {
      for (const ns of [sw, ...hosts.map((h) => h.ns)]) this.addNamespace(ns);
      // No STP, no forwarding delay: ports forward as soon as they are up.
      run(['ip', '-n', sw, 'link', 'add', bridge, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
      run(['ip', '-n', sw, 'link', 'set', bridge, 'up']);
      for (const h of hosts) {
        const port = `${h.iface}p`; // the switch's end of the pair
        // Both ends are created directly inside their namespaces: nothing ever appears in the host's own.
        run(['ip', 'link', 'add', port, 'netns', sw, 'type', 'veth', 'peer', 'name', h.iface, 'netns', h.ns]);
        run(['ip', '-n', sw, 'link', 'set', port, 'master', bridge]);
        run(['ip', '-n', sw, 'link', 'set', port, 'up']);
        run(['ip', '-n', h.ns, 'addr', 'add', `${h.address}/24`, 'dev', h.iface]);
        run(['ip', '-n', h.ns, 'link', 'set', h.iface, 'up']);
      }
    } catch (err) {
      this.removeNamespaces();
      throw err;
    }
  }

  protected removeNamespaces(): void {
    for (const ns of this.namespaces.splice(0).reverse()) tryRun(['ip', 'netns', 'del', ns]);
  }
}

export class Topology extends NsBed {
  readonly subnet: string;
  readonly switchNs: string;
  readonly bridge: string;
  readonly server: Host;
  readonly a: Host;
  readonly b: Host;

  constructor() {
    super();
    const k = this.k;
    // Private to this run's bridge: the same subnet in another run cannot meet this one.
    this.subnet = `10.199.${k}.0/24`;
    this.switchNs = `${this.prefix}w`;
    this.bridge = `${this.prefix}br`;
    const host = (role: Role, letter: string, last: number): Host => ({
      role,
      ns: `${this.prefix}${letter}`,
      iface: `${this.prefix}${letter}0`,
      address: `10.199.${k}.${last}`,
    });
    this.server = host('server', 's', 1);
    this.a = host('a', 'a', 2);
    this.b = host('b', 'b', 3);
  }

  get hosts(): Host[] {
    return [this.server, this.a, this.b];
  }

  /** Builds the namespaces, the bridge and the links. On failure, undoes what it made and throws. */
  build(): void {
    this.buildSwitched(this.switchNs, this.bridge, this.hosts);
  }

  /**
   * Drops `percent` % of UDP datagrams entering and leaving the namespace
   * (each direction decided independently; loopback untouched). 0 removes
   * the rule.
   */
  setLoss(ns: string, percent: number): void {
    if (!Number.isInteger(percent) || percent < 0 || percent > 100) throw new RangeError(`loss must be an integer percentage, got ${percent}`);
    tryRun(['ip', 'netns', 'exec', ns, 'nft', 'delete', 'table', 'inet', NFT_TABLE]);
    if (percent === 0) return;
    // numgen's range is 0..99, so `< 100` does not parse: 100 % is a plain drop.
    const rule = percent === 100 ? 'meta l4proto udp drop' : `meta l4proto udp numgen random mod 100 < ${percent} drop`;
    run(
      ['ip', 'netns', 'exec', ns, 'nft', '-f', '-'],
      `table inet ${NFT_TABLE} {
  chain input { type filter hook input priority 0; policy accept; iifname "lo" accept; ${rule}; }
  chain output { type filter hook output priority 0; policy accept; oifname "lo" accept; ${rule}; }
}
`,
    );
  }

  /** The loss rules in force in a namespace (nft's listing), for diagnostics. */
  lossRules(ns: string): string {
    try {
      return run(['ip', 'netns', 'exec', ns, 'nft', 'list', 'table', 'inet', NFT_TABLE]);
    } catch {
      return '';
    }
  }

  /** A token bucket on the interface's egress: a slow link that queues, then drops. Undefined removes it. */
  setRateLimit(ns: string, iface: string, limit: RateLimit | undefined): void {
    if (limit === undefined) {
      tryRun(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'del', 'dev', iface, 'root']);
      return;
    }
    const { rateKbit, burstBytes = 4096, latencyMs = 400 } = limit;
    run(['ip', 'netns', 'exec', ns, 'tc', 'qdisc', 'replace', 'dev', iface, 'root', 'tbf', 'rate', `${rateKbit}kbit`, 'burst', `${burstBytes}`, 'latency', `${latencyMs}ms`]);
  }

  /** Counters of the interface's root qdisc (tc -s): what a rate limit did. */
  qdiscStats(ns: string, iface: string): { sentBytes: number; sentPackets: number; dropped: number; overlimits: number } | undefined {
    let out: string;
    try {
      out = run(['ip', 'netns', 'exec', ns, 'tc', '-s', 'qdisc', 'show', 'dev', iface, 'root']);
    } catch {
      return undefined;
    }
    const m = /Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)/.exec(out);
    return m ? { sentBytes: Number(m[1]), sentPackets: Number(m[2]), dropped: Number(m[3]), overlimits: Number(m[4]) } : undefined;
  }

  /** Starts the compiled chatd in the server namespace on its address (NsBed.startChatdIn). */
  startChatd(overrides: Record<string, unknown> = {}): Promise<ChatdInNs> {
    return this.startChatdIn(this.server.ns, this.server.address, this.server.address, overrides);
  }
}

/** Builds a topology whose destroy() runs at the test's teardown, even when the test fails. */
export function createTopology(t: Teardown): Topology {
  const topo = new Topology();
  t.teardown(() => topo.destroy());
  topo.build();
  return topo;
}

/** Namespaces of ours (any run of this helper) still present: for leak checks. */
export function leftoverNamespaces(prefix: string): string[] {
  try {
    return run(['ip', 'netns', 'list'])
      .split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(prefix));
  } catch {
    return [];
  }
}

// ---- the chat client fixture (test/fixtures/netns-chatter.ts) ------------------------

export const CHATTER = fileURLToPath(new URL('../fixtures/netns-chatter.js', import.meta.url));

export interface ChatterOptions {
  server: { host: string; port: number };
  room: string;
  nick: string;
  send?: number;
  rateMs?: number;
  durationMs?: number;
  peers?: string[];
  maxAttempts?: number;
  retryMs?: number;
  /** Wait for go() before sending. */
  waitGo?: boolean;
  /** Count every datagram's source, including those the library drops (result.sources). */
  recordSources?: boolean;
}

export interface ChatterResult {
  event: 'result';
  why: string;
  nick: string;
  room: string;
  member: string;
  joinedSeq: number;
  joinedAt: number;
  /** When `go` came (0: it did not, or no --wait-go). */
  goAt: number;
  /** When it began to leave (0: never got that far). */
  leavingAt: number;
  /** How the leave went: `left`, an error code, `timeout`, or `not tried`. */
  leave: string;
  endedAt: number;
  acked: Array<{ i: number | 'END'; seq: number; text: string; sentAt: number; ackedAt: number }>;
  failed: Array<{ i: number | 'END'; code: string }>;
  received: Array<{ seq: number; member: string; nick: string; text: string; at: number }>;
  presence: Array<{ seq: number; event: string; member: string; nick: string; at: number }>;
  gaps: Array<{ from: number; to: number }>;
  lost: Array<{ event: string; at: number; detail?: string }>;
  errors: string[];
  /** Sends refused with EPERM (our own namespace's nftables dropped them). */
  sendsRefused: number;
  /** 'unresponsive' events (no hb reply for 3 periods). */
  unresponsive: number;
  peersDone: string[];
  /** With recordSources: datagrams received per source `ip:port`, before the library looks at them. */
  sources: Record<string, number>;
}

export interface Chatter {
  proc: ChildProcess;
  pid: number;
  lines: LogLine[];
  /** The fixture's `joined` line (member id, joined seq). */
  joined(timeoutMs?: number): Promise<LogLine>;
  /** Lets a --wait-go fixture start sending. */
  go(): void;
  /** Any line of the fixture's (presence events are printed as they come). */
  wait(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
  /** The fixture's `result` line. */
  result(timeoutMs: number): Promise<ChatterResult>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** Runs the chat client fixture in a namespace of a test bed. */
export function startChatter(bed: NsBed, host: { ns: string }, o: ChatterOptions): Chatter {
  const args = ['--server', `${o.server.host}:${o.server.port}`, '--room', o.room, '--nick', o.nick];
  args.push('--send', String(o.send ?? 0), '--rate-ms', String(o.rateMs ?? 100), '--duration-ms', String(o.durationMs ?? 30_000));
  if (o.peers?.length) args.push('--peers', o.peers.join(','));
  if (o.maxAttempts !== undefined) args.push('--max-attempts', String(o.maxAttempts));
  if (o.retryMs !== undefined) args.push('--retry-ms', String(o.retryMs));
  if (o.waitGo) args.push('--wait-go');
  if (o.recordSources) args.push('--record-sources');
  const proc = bed.nodeIn(host.ns, CHATTER, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin?.on('error', () => {}); // the fixture may be gone (killed) before we write
  const r = readLines(proc);
  return {
    proc,
    pid: proc.pid!,
    lines: r.lines,
    joined: (timeoutMs = 30_000) => r.wait((l) => l.event === 'joined', timeoutMs, `${o.nick} joined`),
    wait: r.wait,
    go: () => {
      proc.stdin?.end('go\n');
    },
    result: async (timeoutMs) => (await r.wait((l) => l.event === 'result', timeoutMs, `${o.nick} result`)) as unknown as ChatterResult,
    exited: r.exited,
  };
}
