// Starts the real chatd (compiled) as a child process on an ephemeral
// loopback port, for the tests and the bench alike, and collects its JSON
// log lines so callers await events instead of sleeping. Every process it
// saw (chatd and each room it reported) is registered in ./pids.ts and
// killed at teardown, by pid, even when the test or the bench fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isAlive, sigkill, track, waitGone } from './pids.js';

// Resolved from this file's place (build/test/helpers/), so a caller runs
// the build it was compiled with, wherever that build lives.
export const CHATD_MAIN = fileURLToPath(new URL('../../supervisor/main.js', import.meta.url));
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
/** What is kept of chatd's stderr for error messages: enough for a stack, bounded over a long bench run. */
const STDERR_KEPT = 64 * 1024;

export type LogLine = Record<string, unknown> & { event?: string };
export type ExitInfo = { code: number | null; signal: NodeJS.Signals | null };

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Chatd {
  proc: ChildProcess;
  pid: number;
  port: number;
  /** The scratch folder (config.json, and data/ unless the config names another dataDir); removed at teardown. */
  dir: string;
  configPath: string;
  logs: LogLine[];
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** Resolves with the exit code and signal. */
  exited: Promise<ExitInfo>;
  /** How chatd exited, if it has. */
  exitInfo(): ExitInfo | undefined;
  /** Pids of every room process the supervisor has reported. */
  roomPids(): number[];
  /**
   * The pid of the room's process of that incarnation (1 = first; by
   * default the first process the room had), once its room_started line
   * has been read (logs trail UDP replies).
   */
  roomPid(room: string, incarnation?: number, timeoutMs?: number): Promise<number>;
  /** A clean stop: SIGTERM, SIGKILL after timeoutMs; every reported room process is gone afterwards. */
  stop(timeoutMs?: number): Promise<void>;
}

export interface StartOptions {
  /** chatd leads a process group of its own (with its rooms), as under a terminal or a service manager. */
  detached?: boolean;
  /** A config file whose settings replace the tests' defaults (the overrides still apply on top), e.g. config/bench.json. */
  baseConfig?: string;
  /** Arguments to node before the script (e.g. --cpu-prof); the room processes inherit them (fork's default execArgv). */
  nodeArgs?: string[];
  /** The address chatd binds (--host; 127.0.0.1 by default): a cluster's nodes each take their own loopback address. */
  host?: string;
  /** The control port (--port; 0 by default: any free port, read from the listening line). */
  port?: number;
  /** No --port: the port is the config file's (overrides.port), as a reload reads it. */
  portInConfig?: boolean;
}

/**
 * The tests' defaults: a scratch dataDir, debug logs, and generous
 * timeouts, as the suite runs on shared 2-core machines where under load a
 * fork can take seconds (tests about timing set their own values).
 */
function testDefaults(dir: string): Record<string, unknown> {
  return { dataDir: join(dir, 'data'), logLevel: 'debug', roomStartTimeoutMs: 30_000, ipcTimeoutMs: 15_000, probeTimeoutMs: 15_000 };
}

/**
 * `t` gets the teardown (tap's test, or any list a script runs at its end):
 * SIGKILL, by pid, of chatd and every room it reported, then the scratch
 * folder is removed. `env` adds to this process's environment.
 */
export async function startChatd(t: Teardown, overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, opts: StartOptions = {}): Promise<Chatd> {
  const dir = mkdtempSync(join(tmpdir(), 'chatd-test-'));
  const configPath = join(dir, 'config.json');
  const base = opts.baseConfig ? (JSON.parse(readFileSync(opts.baseConfig, 'utf8')) as Record<string, unknown>) : testDefaults(dir);
  // The admin listener on any free port (default 7448): tests and benches run many chatds at once.
  writeFileSync(configPath, JSON.stringify({ adminPort: 0, ...base, ...overrides }, null, 2) + '\n');
  const portArgs = opts.portInConfig ? [] : ['--port', String(opts.port ?? 0)];
  const proc = spawn(process.execPath, [...(opts.nodeArgs ?? []), CHATD_MAIN, '--config', configPath, ...portArgs, '--host', opts.host ?? '127.0.0.1'], {
    // A relative path in a config (dataDir) means the same as under `npm start`.
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    detached: opts.detached ?? false,
  });
  const pid = proc.pid;
  if (pid === undefined) {
    rmSync(dir, { recursive: true, force: true });
    throw new Error(`cannot start ${CHATD_MAIN}`);
  }
  track(pid, 'chatd');
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-STDERR_KEPT)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let l: LogLine;
    try {
      l = JSON.parse(line) as LogLine;
    } catch {
      l = { event: 'unparsed', line };
    }
    logs.push(l);
    if (l.event === 'room_started' && typeof l['roomPid'] === 'number') track(l['roomPid'], `room ${String(l['room'])}`);
    for (const w of waiters) w();
  });
  let exitInfo: ExitInfo | undefined;
  const exited = new Promise<ExitInfo>((resolve) => {
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      for (const w of waiters) w();
      resolve(exitInfo);
    });
  });
  const roomPids = () => [...new Set(logs.filter((l) => l.event === 'room_started').map((l) => l['roomPid'] as number))];
  t.teardown(async () => {
    for (const p of [pid, ...roomPids()]) sigkill(p);
    await exited;
    rmSync(dir, { recursive: true, force: true });
  });
  const waitLog = (pred: (l: LogLine) => boolean, timeoutMs = 10_000, what = 'log line'): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = logs.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (exitInfo || proc.exitCode !== null) {
          done();
          reject(new Error(`chatd exited before ${what}; stderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; stderr: ${stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const roomPid = async (room: string, incarnation?: number, timeoutMs = 10_000) =>
    (
      await waitLog(
        (l) => l.event === 'room_started' && l['room'] === room && (incarnation === undefined || l['incarnation'] === incarnation),
        timeoutMs,
        `room_started ${room}${incarnation === undefined ? '' : ` #${incarnation}`}`,
      )
    )['roomPid'] as number;
  const stop = async (timeoutMs = 8_000): Promise<void> => {
    if (!exitInfo) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => sigkill(pid), timeoutMs);
      await exited;
      clearTimeout(timer);
    }
    // Rooms exit on their own once chatd is gone (IPC channel closed); make sure.
    for (const r of roomPids()) {
      if (!(await waitGone(r, 2_000))) sigkill(r);
    }
  };
  let listening: LogLine;
  try {
    listening = await waitLog((l) => l.event === 'listening', 10_000, 'the listening log line');
  } catch (err) {
    // Not left to the teardown: a script's may run only at its very end.
    if (isAlive(pid)) sigkill(pid);
    await exited;
    throw err;
  }
  return { proc, pid, port: listening['port'] as number, dir, configPath, logs, waitLog, exited, exitInfo: () => exitInfo, roomPids, roomPid, stop };
}
