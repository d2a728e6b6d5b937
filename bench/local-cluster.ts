#!/usr/bin/env node
// `npm run cluster`: a chatd cluster on one machine, for trying cluster
// mode: NATS servers with JetStream (test/helpers/nats.ts) and chatd nodes,
// node i alone on 127.0.0.i with the same control port
// (test/helpers/cluster-config.ts), their logs merged into one labelled
// stream (./merged-log.ts). Options and exit codes: ./local-cluster-args.ts.
// Every process is started in a process group of its own, so that a Ctrl-C
// reaches only this launcher, which stops the nodes first (cleanly, while
// NATS still serves them) and NATS last.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { clusterNodeConfig, nodeAddress, nodeName } from '../test/helpers/cluster-config.js';
import { skipReason, startNatsServers, type NatsCluster } from '../test/helpers/nats.js';
import { killAllStarted } from '../test/helpers/pids.js';
import { parseLauncherArgs, USAGE, type LauncherArgs } from './local-cluster-args.js';
import { startLocalNode, type LocalNode } from './local-node.js';
import { condenseNatsLine, labelChatdLine, MergedLog } from './merged-log.js';

/** How long a node may take to say `listening` (a cold start on a loaded machine takes a few seconds). */
const LISTEN_TIMEOUT_MS = 30_000;
/** A node's clean stop: its rooms' shutdownTimeoutMs (5 s by default) and its log flush (1 s), with room to spare. */
const NODE_STOP_MS = 10_000;
/** A NATS server's clean stop before it is killed. */
const NATS_STOP_MS = 5_000;
/** What the last log lines get to reach a slow reader at exit. */
const FLUSH_MS = 1_000;
/** The forced exit (a second Ctrl-C, a crash) gives up waiting for processes after this. */
const FORCED_EXIT_MS = 6_000;
/** One signal repeated within this is one Ctrl-C (see onSignal); a person pressing twice is slower. */
const SAME_SIGNAL_MS = 150;
/** Keys every node gets from the launcher, whatever --config says. */
const LAUNCHER_KEYS = ['host', 'port', 'advertiseHost', 'adminHost', 'natsServers', 'nodeName', 'clusterName', 'journalReplicas', 'dataDir', 'logDestination'];

function say(msg: string): void {
  process.stderr.write(`local-cluster: ${msg}\n`);
}

function usage(msg: string): never {
  process.stderr.write(`local-cluster: ${msg}\n${USAGE.split('\n\n')[0]}\n(--help says more)\n`);
  process.exit(2);
}

/** The --config file as an object; a relative path is taken from where `npm run` was typed (npm runs scripts in the package root). */
function readBaseConfig(file: string | undefined): Record<string, unknown> {
  if (file === undefined) return {};
  const path = resolve(process.env['INIT_CWD'] ?? process.cwd(), file);
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    usage(`--config ${path}: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) usage(`--config ${path}: not a JSON object`);
  const ours = LAUNCHER_KEYS.filter((k) => k in parsed);
  if (ours.length > 0) say(`--config: ${ours.join(', ')} are set per node by the launcher; the file's values are not used`);
  return parsed as Record<string, unknown>;
}

function describeExit(code: number | null, signal: NodeJS.Signals | null): string {
  return signal ? `killed by ${signal}` : `exit code ${code}`;
}

class Launcher {
  private readonly log = new MergedLog();
  private readonly abort = new AbortController();
  private readonly scratch = mkdtempSync(join(tmpdir(), 'chatd-cluster-'));
  private nats: NatsCluster | undefined;
  private natsStart: Promise<unknown> = Promise.resolve();
  private nodes: LocalNode[] = [];
  private stopping = false;
  private signals = 0;
  private lastSignal: NodeJS.Signals | undefined;
  private lastSignalAt = 0;

  constructor(private readonly args: LauncherArgs) {}

  onSignal(sig: NodeJS.Signals): void {
    // Under `npm run` a Ctrl-C can arrive twice at once: from the terminal,
    // and forwarded by npm when its shell ran us in its own place.
    const now = Date.now();
    if (sig === this.lastSignal && now - this.lastSignalAt < SAME_SIGNAL_MS) return;
    this.lastSignal = sig;
    this.lastSignalAt = now;
    this.signals++;
    if (this.signals === 1) {
      say(`${sig}: stopping the nodes, then NATS (Ctrl-C again to kill everything at once)`);
      void this.shutdown(0);
    } else if (this.signals === 2) {
      say(`${sig} again: killing everything`);
      void this.killEverything(1);
    }
  }

  async run(base: Record<string, unknown>): Promise<void> {
    const a = this.args;
    const start = startNatsServers({
      servers: a.nats,
      jetstream: true,
      dir: join(this.scratch, 'nats'),
      detached: true,
      signal: this.abort.signal,
      onLine: (server, line) => {
        // Until all are ready, warnings and errors are the servers dialing
        // routes to ones not listening yet; a failed start reports the log.
        if (!this.nats && !a.natsLogs) return;
        const f = condenseNatsLine(natsLabel(server), line, a.natsLogs);
        if (f) this.log.write(f);
      },
      onExit: (server, code, signal) => this.natsExited(natsLabel(server), code, signal),
    });
    this.natsStart = start;
    try {
      this.nats = await start;
    } catch (err) {
      if (this.stopping) return;
      say(`NATS did not start: ${(err as Error).message}`);
      return this.shutdown(1);
    }
    if (this.stopping) return;

    for (let i = 0; i < a.nodes; i++) this.nodes.push(this.startNode(i, base));
    const heard = await Promise.all(this.nodes.map((n) => n.listening(LISTEN_TIMEOUT_MS)));
    if (this.stopping) return;
    for (const [i, n] of this.nodes.entries()) {
      if (!heard[i] && !n.exitInfo()) say(`${n.name} has not said it listens after ${LISTEN_TIMEOUT_MS / 1000} s; it keeps running`);
    }
    this.banner(heard.map((l) => l !== undefined));
  }

  private startNode(i: number, base: Record<string, unknown>): LocalNode {
    const name = nodeName(i);
    const dir = join(this.scratch, name);
    mkdirSync(dir, { recursive: true });
    const configPath = join(dir, 'config.json');
    const config = {
      ...base,
      ...clusterNodeConfig(i, { natsUrls: this.nats!.urls, clusterName: 'chatd', replicas: this.args.replicas, dataDir: join(dir, 'data') }),
      port: this.args.port,
      // The merged stream is made of every node's stdout.
      logDestination: 'stdout',
    };
    writeFileSync(configPath, JSON.stringify(config, null, 2) + '\n');
    const node = startLocalNode({
      name,
      configPath,
      cwd: dir,
      onLine: (line, parsed) => this.log.write(labelChatdLine(name, line, parsed)),
      onStderr: (line) => process.stderr.write(`${name}: ${line}\n`),
    });
    void node.exited.then(({ code, signal }) => this.nodeExited(node, code, signal));
    return node;
  }

  private nodeExited(node: LocalNode, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.stopping) return;
    const how = describeExit(code, signal);
    this.log.event(node.name, 'error', 'node_exited', { code, signal }, `chatd ${node.name} exited by itself (${how})`);
    const left = this.nodes.filter((n) => !n.exitInfo()).length;
    if (left === 0) {
      say(`${node.name} exited (${how}); no chatd node is left: stopping`);
      void this.shutdown(1);
    } else {
      say(`${node.name} exited (${how}); the other ${left} node(s) keep running`);
    }
  }

  private natsExited(label: string, code: number | null, signal: NodeJS.Signals | null): void {
    // Exits during the start (a lost port) are the harness's retries, and during a stop they are asked for.
    if (this.stopping || !this.nats) return;
    const how = describeExit(code, signal);
    this.log.event(label, 'error', 'nats_exited', { code, signal }, `nats-server ${label} exited by itself (${how})`);
    say(`NATS server ${label} exited (${how}); the nodes keep running on the others, if any`);
  }

  private banner(listening: boolean[]): void {
    const a = this.args;
    const port = a.port;
    const lines = [
      `${a.nats} NATS server(s) with JetStream, journalReplicas ${a.replicas}: ${this.nats!.urls.join(' ')}`,
      'chatd nodes (UDP control endpoints):',
      ...this.nodes.map((n, i) => `  ${n.name}  ${nodeAddress(i)}:${port}  pid ${n.pid}${listening[i] ? '' : n.exitInfo() ? '  (exited)' : '  (not listening yet)'}`),
      `configs, data and NATS stores in ${this.scratch}${a.keep ? ' (kept at exit)' : ' (removed at exit; --keep keeps them)'}`,
      'try it:',
      `  npm run chat -- --server ${this.nodes.map((_, i) => `${nodeAddress(i)}:${port}`).join(',')} --nick alice --room lobby`,
      `  echo '{"type":"ping","id":"1"}' | nc -u -w1 ${nodeAddress(this.nodes.length - 1)} ${port}`,
      'logs: JSON lines on stdout, "node" names the process (pipe through "npx pino-pretty"); Ctrl-C stops everything',
    ];
    say(lines.join('\n  '));
  }

  /** Nodes first (cleanly, NATS still up to serve their shutdown), then NATS, then the scratch folder. */
  async shutdown(code: number): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    // Only a start under way is cut short: running servers are stopped below, after the nodes.
    if (!this.nats) this.abort.abort();
    await Promise.all(
      this.nodes.map(async (n) => {
        if (await n.stop(NODE_STOP_MS)) say(`${n.name} had not stopped ${NODE_STOP_MS / 1000} s after SIGTERM: killed`);
      }),
    );
    await this.natsStart.catch(() => undefined);
    if (this.nats) {
      await Promise.all(this.nats.servers.map((s) => Promise.race([s.kill('SIGTERM'), new Promise((r) => setTimeout(r, NATS_STOP_MS))])));
      await this.nats.stop();
    }
    this.finish(code);
    await this.log.flush(FLUSH_MS);
    process.exit(code);
  }

  /** SIGKILL for everything this launcher started, then out. */
  async killEverything(code: number): Promise<void> {
    this.stopping = true;
    this.abort.abort();
    setTimeout(() => {
      say(`processes still running after ${FORCED_EXIT_MS / 1000} s of SIGKILL; exiting anyway`);
      process.exit(code);
    }, FORCED_EXIT_MS).unref();
    await Promise.allSettled(this.nodes.map((n) => n.kill()));
    killAllStarted();
    await this.nats?.stop();
    this.finish(code);
    await this.log.flush(FLUSH_MS / 4);
    process.exit(code);
  }

  private finish(code: number): void {
    if (this.args.keep) say(`kept ${this.scratch}`);
    else rmSync(this.scratch, { recursive: true, force: true });
    say(code === 0 ? 'stopped' : `stopped (exit ${code})`);
  }
}

function natsLabel(server: string): string {
  // The harness names servers n0, n1, ...
  return `nats-${server.replace(/^n/, '')}`;
}

function main(): void {
  const parsed = parseLauncherArgs(process.argv.slice(2));
  if (parsed.kind === 'help') {
    process.stdout.write(USAGE + '\n');
    return;
  }
  if (parsed.kind === 'usage') usage(parsed.error);
  const missing = skipReason();
  if (missing) {
    say(`cluster mode runs on NATS: ${missing}`);
    process.exit(2);
  }
  const base = readBaseConfig(parsed.args.configFile);
  // A terminal closed under us (SIGHUP) must not turn the clean stop into a crash on a failed write.
  process.stderr.on('error', () => undefined);
  const launcher = new Launcher(parsed.args);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(sig, () => launcher.onSignal(sig));
  const crash = (err: unknown) => {
    say(`internal error, killing everything: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}`);
    void launcher.killEverything(1);
  };
  process.on('uncaughtException', crash);
  process.on('unhandledRejection', crash);
  void launcher.run(base).catch(crash);
}

main();
