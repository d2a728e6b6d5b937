// Real nats-server processes for the tests and the local cluster launcher:
// one server, or several clustered with routes, each on free ports with its
// own store folder in a scratch folder. Every process is registered in
// ./pids.ts and SIGKILLed by pid by stop(); startNats also has a test's
// teardown do it, even when the test fails. Readiness is polled on each
// server's monitoring port, never slept for.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { isAlive, sigkill, track } from './pids.js';

const DEFAULT_HOST = '127.0.0.1';
const BIN = 'nats-server';
/** How long a start (or restart) may take to be ready: a clustered start on a loaded 2-core machine takes a few seconds. */
const READY_TIMEOUT_MS = 15_000;
/** Attempts at a start whose ports another process took between our probe and the server's bind. */
const BIND_ATTEMPTS = 5;
const STDERR_KEPT = 32 * 1024;
const POLL_MS = 50;

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface NatsServer {
  /** Server name, as JetStream reports stream and meta leaders (n0, n1, n2). */
  readonly name: string;
  /** The pid of the current process (a restart changes it). */
  readonly pid: number;
  readonly url: string;
  readonly monitorUrl: string;
  alive(): boolean;
  /** Signals the process (SIGKILL by default) and resolves once it has exited. */
  kill(signal?: NodeJS.Signals): Promise<void>;
  /** Starts it again on the same ports and store (after kill), resolved once its /healthz is ok. */
  restart(): Promise<void>;
  /** Its log so far (the last STDERR_KEPT bytes), for failure messages. */
  log(): string;
}

export interface NatsCluster {
  urls: string[];
  /** The folder holding each server's store (n0/, n1/, n2/). */
  dir: string;
  /** How many starts it took (more than one when a port was taken under us). */
  attempts: number;
  servers: NatsServer[];
  /** Kills every server and removes the folder (unless the caller named it); startNats's teardown does the same if not called. */
  stop(): Promise<void>;
}

export interface NatsOptions {
  /** How many servers (1 by default); more than one are clustered with routes. */
  servers?: number;
  jetstream?: boolean;
  /** Where ports come from (freePort by default); the harness's own test hands out a taken one to prove the retry. */
  pickPort?: () => Promise<number>;
  /** The folder for the stores, created if missing and left in place by stop() (its owner removes it); by default a scratch folder that stop() removes. */
  dir?: string;
  /** The address every server binds (127.0.0.1 by default). */
  host?: string;
  /** Each server in a process group of its own, so a Ctrl-C at a terminal reaches only whoever started it (who then stops it in order). */
  detached?: boolean;
  /** Every line a server logs, as it comes (the last ones are also kept for log()). */
  onLine?: (server: string, line: string) => void;
  /** A server process exited (also when killed, by stop() too). */
  onExit?: (server: string, code: number | null, signal: NodeJS.Signals | null) => void;
  /** Aborting it stops the servers, also while the start is under way (which then rejects). */
  signal?: AbortSignal;
}

let skipCache: { reason: string | undefined } | undefined;

/** Why the NATS tests cannot run here (nats-server missing or broken), or undefined if they can. */
export function skipReason(): string | undefined {
  skipCache ??= { reason: probeBinary() };
  return skipCache.reason;
}

function probeBinary(): string | undefined {
  try {
    execFileSync(BIN, ['--version'], { stdio: 'pipe', timeout: 5_000 });
    return undefined;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return e.code === 'ENOENT'
      ? '`nats-server` is not on PATH; install it (Debian: apt-get install nats-server)'
      : `\`nats-server --version\` failed: ${e.message}`;
  }
}

/** The installed server's version, e.g. "2.9.10". */
export function natsServerVersion(): string {
  return execFileSync(BIN, ['--version'], { encoding: 'utf8', timeout: 5_000 }).trim().replace(/^nats-server:\s*v?/, '');
}

// Ports handed out by this process, so two servers of one run never get the
// same one from the kernel between a probe's close and a server's bind.
const handedOut = new Set<number>();

/** A TCP port free on host at the moment (bound then released); the server's bind may still lose a race, see the retry in launch. */
export async function freePort(host = DEFAULT_HOST): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = createServer();
      s.once('error', reject);
      s.listen(0, host, () => {
        const a = s.address();
        s.close(() => (typeof a === 'object' && a ? resolve(a.port) : reject(new Error('no port'))));
      });
    });
    if (!handedOut.has(port)) {
      handedOut.add(port);
      return port;
    }
  }
}

interface Ports {
  client: number;
  cluster: number;
  monitor: number;
}

class Proc {
  child: ChildProcess | undefined;
  exited: Promise<void> = Promise.resolve();
  private stderr = '';

  constructor(
    readonly name: string,
    readonly argv: () => string[],
    private readonly opts: NatsOptions,
  ) {}

  start(): void {
    this.stderr = '';
    const child = spawn(BIN, this.argv(), { stdio: ['ignore', 'ignore', 'pipe'], detached: this.opts.detached ?? false });
    if (child.pid === undefined) throw new Error(`cannot start ${BIN}`);
    track(child.pid, `nats-server ${this.name}`);
    child.stderr!.on('data', (d: Buffer) => (this.stderr = (this.stderr + d.toString()).slice(-STDERR_KEPT)));
    const onLine = this.opts.onLine;
    if (onLine) createInterface({ input: child.stderr! }).on('line', (line) => onLine(this.name, line));
    this.exited = new Promise((resolve) =>
      child.once('exit', (code, signal) => {
        this.opts.onExit?.(this.name, code, signal);
        resolve();
      }),
    );
    this.child = child;
  }

  get pid(): number {
    return this.child?.pid ?? -1;
  }

  running(): boolean {
    return this.child !== undefined && this.child.exitCode === null && this.child.signalCode === null;
  }

  log(): string {
    return this.stderr;
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    if (!this.running()) return;
    this.child!.kill(signal);
    await this.exited;
  }
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  } catch {
    return { status: res.status, body: { text } };
  }
}

/**
 * Polls until check() returns a value (not undefined) or the deadline; a
 * server found dead ends the wait at once, as a bind failure does.
 */
async function poll<T>(what: string, procs: Proc[], check: () => Promise<T | undefined>, timeoutMs = READY_TIMEOUT_MS): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last = '';
  for (;;) {
    const dead = procs.find((p) => !p.running());
    if (dead) throw new ExitedEarly(dead);
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = (err as Error).message;
    }
    if (Date.now() >= until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${last})` : ''}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

class ExitedEarly extends Error {
  constructor(readonly proc: Proc) {
    super(`nats-server ${proc.name} exited before it was ready:\n${proc.log().slice(-2_000)}`);
  }
  get lostBind(): boolean {
    return /address already in use/i.test(this.proc.log());
  }
}

/**
 * /healthz of one server. With JetStream, js-enabled-only asks only that it
 * runs (a clustered server is not current before the others are up); the
 * full check (restart) also asks that it is current with its cluster.
 */
async function healthy(host: string, monitor: number, jsOnly: boolean): Promise<true | undefined> {
  const { status, body } = await getJson(`http://${host}:${monitor}/healthz${jsOnly ? '?js-enabled-only=true' : ''}`);
  if (status === 200 && body['status'] === 'ok') return true;
  throw new Error(`healthz ${status} ${JSON.stringify(body)}`);
}

/** The JetStream meta leader every server names, once they all agree on one. */
async function agreedMetaLeader(host: string, monitors: number[]): Promise<string | undefined> {
  const leaders = await Promise.all(
    monitors.map(async (m) => ((await getJson(`http://${host}:${m}/jsz`)).body['meta_cluster'] as { leader?: string } | undefined)?.leader),
  );
  const first = leaders[0];
  return first && leaders.every((l) => l === first) ? first : undefined;
}

/**
 * Starts the servers and waits until JetStream is ready on each and (for
 * several) until all of them agree on a meta leader. The caller (or the
 * test's teardown, with startNats) calls stop(); a failed start stops
 * what it started before it throws.
 */
export function startNatsServers(opts: NatsOptions = {}): Promise<NatsCluster> {
  return launch(opts).ready;
}

/**
 * startNatsServers for a test: everything is killed and removed at t's
 * teardown, also when the test ends (a timeout) while the start is still
 * under way.
 */
export function startNats(t: Teardown, opts: NatsOptions = {}): Promise<NatsCluster> {
  const l = launch(opts);
  t.teardown(l.stop);
  return l.ready;
}

/** Starts at once; stop is usable before ready settles, so a teardown registered first covers a start cut short. */
function launch(opts: NatsOptions): { ready: Promise<NatsCluster>; stop: () => Promise<void> } {
  const n = opts.servers ?? 1;
  if (!Number.isInteger(n) || n < 1) throw new Error(`servers must be a positive integer, got ${n}`);
  const js = opts.jetstream ?? true;
  const host = opts.host ?? DEFAULT_HOST;
  const pick = opts.pickPort ?? (() => freePort(host));
  const owned = opts.dir === undefined;
  const root = opts.dir ?? mkdtempSync(join(tmpdir(), 'chatd-nats-'));
  mkdirSync(root, { recursive: true });
  const stores = () => Array.from({ length: n }, (_, i) => join(root, `n${i}`));
  let procs: Proc[] = [];
  let stopped = false;
  const stop = async () => {
    stopped = true;
    for (const p of procs) if (p.running()) sigkill(p.pid);
    await Promise.all(procs.map((p) => p.exited));
    if (owned) rmSync(root, { recursive: true, force: true });
  };
  if (opts.signal?.aborted) stopped = true;
  opts.signal?.addEventListener('abort', () => void stop(), { once: true });

  const ready = (async (): Promise<NatsCluster> => {
    let ports: Ports[] = [];
    let attempt = 1;
    for (; ; attempt++) {
      ports = [];
      // A single server needs no cluster port (0: never passed to it).
      for (let i = 0; i < n; i++) ports.push({ client: await pick(), cluster: n > 1 ? await pick() : 0, monitor: await pick() });
      if (stopped) throw new Error('nats-server start cut short by stop()');
      procs = ports.map((p, i) => new Proc(`n${i}`, () => argv(i, p, ports, root, js, host), opts));
      try {
        for (const p of procs) p.start();
        await Promise.all(ports.map((p, i) => poll(`nats-server n${i} to be ready`, procs, () => healthy(host, p.monitor, js))));
        if (n > 1 && js) await poll('a JetStream meta leader all servers agree on', procs, () => agreedMetaLeader(host, ports.map((p) => p.monitor)));
        break;
      } catch (err) {
        for (const p of procs) await p.kill();
        if (stopped) {
          await stop();
          throw new Error('nats-server start cut short by stop()');
        }
        if (!(err instanceof ExitedEarly && err.lostBind) || attempt >= BIND_ATTEMPTS) {
          await stop();
          throw err;
        }
        // Another process took a port between our probe and the server's bind: new ports, fresh stores.
        for (const d of stores()) rmSync(d, { recursive: true, force: true });
      }
    }

    const servers: NatsServer[] = procs.map((proc, i) => {
      const p = ports[i]!;
      return {
        name: proc.name,
        get pid() {
          return proc.pid;
        },
        url: `nats://${host}:${p.client}`,
        monitorUrl: `http://${host}:${p.monitor}`,
        alive: () => proc.running() && isAlive(proc.pid),
        kill: (signal?: NodeJS.Signals) => proc.kill(signal),
        log: () => proc.log(),
        restart: async () => {
          if (proc.running()) throw new Error(`nats-server ${proc.name} is still running`);
          for (let attempt = 1; ; attempt++) {
            proc.start();
            try {
              await poll(`nats-server ${proc.name} to be healthy again`, [proc], () => healthy(host, p.monitor, false));
              return;
            } catch (err) {
              await proc.kill();
              // Its ports are fixed (the others route to them): a lost bind can only be waited out.
              if (!(err instanceof ExitedEarly && err.lostBind) || attempt >= BIND_ATTEMPTS) throw err;
              await new Promise((r) => setTimeout(r, 200 * attempt));
            }
          }
        },
      };
    });
    return { urls: servers.map((s) => s.url), dir: root, attempts: attempt, servers, stop };
  })();
  return { ready, stop };
}

function argv(i: number, p: Ports, all: Ports[], root: string, js: boolean, host: string): string[] {
  const a = ['-a', host, '-p', String(p.client), '-m', String(p.monitor), '--server_name', `n${i}`];
  if (js) {
    const dir = join(root, `n${i}`);
    mkdirSync(dir, { recursive: true });
    a.push('-js', '-sd', dir);
  }
  if (all.length > 1) {
    const routes = all.filter((_, j) => j !== i).map((o) => `nats://${host}:${o.cluster}`);
    a.push('--cluster_name', 'chatd-test', '--cluster', `nats://${host}:${p.cluster}`, '--routes', routes.join(','));
  }
  return a;
}
