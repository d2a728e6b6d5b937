// Starts the real, compiled chatd on an ephemeral loopback port with
// config/bench.json (or a config derived from it), follows its JSON log
// lines (to learn its port and the pids of its room processes), and stops
// it: SIGTERM, then SIGKILL for chatd and any of its rooms still alive.
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { isAlive, sigkill, track, waitGone } from './pids.js';

// Resolved from this file's place (build/bench/), so the bench runs the
// build it was compiled with, wherever that build lives.
export const CHATD_MAIN = fileURLToPath(new URL('../supervisor/main.js', import.meta.url));
export const BENCH_CONFIG = fileURLToPath(new URL('../../config/bench.json', import.meta.url));
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type LogLine = Record<string, unknown> & { event?: string };

export interface Chatd {
  pid: number;
  port: number;
  logs: LogLine[];
  waitLog(pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine>;
  /** The pid of the room's process of that incarnation (1 = first), from its room_started line. */
  roomPid(room: string, incarnation?: number, timeoutMs?: number): Promise<number>;
  /** Pids of every room process chatd has reported. */
  roomPids(): number[];
  /** How chatd exited, if it has (before stop() that is a failure of the run). */
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** SIGTERM (clean stop), SIGKILL after timeoutMs; every reported room process is gone afterwards. */
  stop(timeoutMs?: number): Promise<void>;
}

/**
 * Writes config/bench.json with `changes` applied to DIR/NAME (a scenario
 * that needs one setting changed; config/bench.json itself stays as it is)
 * and returns its path.
 */
export function writeDerivedConfig(dir: string, name: string, changes: Record<string, unknown>): string {
  const path = join(dir, name);
  const base = JSON.parse(readFileSync(BENCH_CONFIG, 'utf8')) as Record<string, unknown>;
  writeFileSync(path, JSON.stringify({ ...base, ...changes }, null, 2) + '\n');
  return path;
}

/**
 * `nodeArgs` go to node before the script (e.g. --cpu-prof); the room
 * processes inherit them (fork's default execArgv). `config`: a config file
 * other than config/bench.json (see writeDerivedConfig).
 */
export async function startChatd(nodeArgs: string[] = [], config = BENCH_CONFIG): Promise<Chatd> {
  const proc: ChildProcess = spawn(process.execPath, [...nodeArgs, CHATD_MAIN, '--config', config, '--port', '0', '--host', '127.0.0.1'], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`cannot start ${CHATD_MAIN}`);
  track(pid, 'chatd');
  const logs: LogLine[] = [];
  const waiters = new Set<() => void>();
  let stderr = '';
  let exited = false;
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  proc.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4_000)));
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    let l: LogLine;
    try {
      l = JSON.parse(line) as LogLine;
    } catch {
      l = { event: 'unparsed', line };
    }
    logs.push(l);
    if (l.event === 'room_started' && typeof l['pid'] === 'number') track(l['pid'], `room ${String(l['room'])}`);
    for (const w of waiters) w();
  });
  const exit = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      exited = true;
      exitInfo = { code, signal };
      for (const w of waiters) w();
      resolve();
    }),
  );

  const waitLog = (pred: (l: LogLine) => boolean, timeoutMs: number, what: string): Promise<LogLine> =>
    new Promise((resolve, reject) => {
      const check = () => {
        const hit = logs.find(pred);
        if (hit) {
          done();
          resolve(hit);
        } else if (exited) {
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

  const roomPids = () => [...new Set(logs.filter((l) => l.event === 'room_started').map((l) => l['pid'] as number))];

  const stop = async (timeoutMs = 8_000): Promise<void> => {
    if (!exited) {
      proc.kill('SIGTERM');
      const timer = setTimeout(() => sigkill(pid), timeoutMs);
      await exit;
      clearTimeout(timer);
    }
    // Rooms exit on their own once chatd is gone (IPC channel closed); make sure.
    for (const r of roomPids()) {
      if (!(await waitGone(r, 2_000))) sigkill(r);
    }
  };

  try {
    const listening = await waitLog((l) => l.event === 'listening', 10_000, 'the listening log line');
    return {
      pid,
      port: listening['port'] as number,
      logs,
      waitLog,
      roomPid: async (room, incarnation = 1, timeoutMs = 10_000) =>
        (await waitLog(
          (l) => l.event === 'room_started' && l['room'] === room && l['incarnation'] === incarnation,
          timeoutMs,
          `room_started ${room} #${incarnation}`,
        ))['pid'] as number,
      roomPids,
      exitInfo: () => exitInfo,
      stop,
    };
  } catch (err) {
    if (isAlive(pid)) sigkill(pid);
    await exit;
    throw err;
  }
}
