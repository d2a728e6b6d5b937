// Starts the real chatd (compiled) as a child process on an ephemeral port
// with a temp config and data dir, and collects its JSON log lines so tests
// can await events instead of sleeping. Every process it saw is killed at
// teardown, by pid, even when the test fails.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const CHATD_MAIN = fileURLToPath(new URL('../../supervisor/main.js', import.meta.url));

export type LogLine = Record<string, unknown> & { event?: string };

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Chatd {
  proc: ChildProcess;
  pid: number;
  port: number;
  dir: string;
  logs: LogLine[];
  waitLog(pred: (l: LogLine) => boolean, timeoutMs?: number, what?: string): Promise<LogLine>;
  /** Resolves with the exit code and signal. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Pids of every room process the supervisor has reported. */
  roomPids(): number[];
  /** The pid of the room's first process, once its room_started line has been read (logs trail UDP replies). */
  roomPid(room: string): Promise<number>;
}

export interface StartOptions {
  /** chatd leads a process group of its own (with its rooms), as under a terminal or a service manager. */
  detached?: boolean;
}

export async function startChatd(t: Teardown, overrides: Record<string, unknown> = {}, env: NodeJS.ProcessEnv = {}, opts: StartOptions = {}): Promise<Chatd> {
  const dir = mkdtempSync(join(tmpdir(), 'chatd-test-'));
  const configPath = join(dir, 'config.json');
  // Timeouts are generous: the suite runs on shared 2-core machines, and under
  // load a fork can take seconds (tests about timing set their own values).
  const config = { dataDir: join(dir, 'data'), logLevel: 'debug', roomStartTimeoutMs: 30_000, ipcTimeoutMs: 15_000, probeTimeoutMs: 15_000, ...overrides };
  writeFileSync(configPath, JSON.stringify(config));
  const proc = spawn(process.execPath, [CHATD_MAIN, '--config', configPath, '--port', '0', '--host', '127.0.0.1'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, ...env },
    detached: opts.detached ?? false,
  });
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    try {
      logs.push(JSON.parse(line) as LogLine);
    } catch {
      logs.push({ event: 'unparsed', line });
    }
    for (const w of waiters) w();
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    proc.once('exit', (code, signal) => {
      for (const w of waiters) w();
      resolve({ code, signal });
    });
  });
  let isExited = false;
  void exited.then(() => (isExited = true));
  const roomPids = () => [...new Set(logs.filter((l) => l.event === 'room_started').map((l) => l['pid'] as number))];
  t.teardown(async () => {
    for (const pid of [proc.pid!, ...roomPids()]) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* already gone */
      }
    }
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
        } else if (isExited || proc.exitCode !== null) {
          done();
          reject(new Error(`chatd exited before ${what}; stderr: ${stderr}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; stderr: ${stderr}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
      };
      waiters.add(check);
      check();
    });
  const listening = await waitLog((l) => l.event === 'listening', 10_000, 'listening');
  const roomPid = async (room: string) =>
    (await waitLog((l) => l.event === 'room_started' && l['room'] === room, 10_000, `room_started ${room}`))['pid'] as number;
  return { proc, pid: proc.pid!, port: listening['port'] as number, dir, logs, waitLog, exited, roomPids, roomPid };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls (bounded in count and time) until the pid is gone; resolves false if it never goes. */
export async function waitGone(pid: number, timeoutMs = 5_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isAlive(pid);
}
