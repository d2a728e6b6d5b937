// Helpers for the operator-facing tests: a chatd run expected to end by
// itself (its exit code, stdout and stderr, bounded), and scratch file
// systems (tmpfs) to make a dataDir read-only or full.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHATD_MAIN, type LogLine } from './chatd.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** stdout's JSON lines. */
  logs: LogLine[];
  ms: number;
}

/** A scratch folder, removed at teardown. */
export function scratchDir(t: Teardown, prefix = 'chatd-ops-'): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Writes a config file into dir (the test's usual timeouts, then the overrides). */
export function writeConfig(dir: string, name: string, overrides: Record<string, unknown>): string {
  const path = join(dir, name);
  writeFileSync(path, JSON.stringify({ logLevel: 'debug', roomStartTimeoutMs: 30_000, ipcTimeoutMs: 15_000, probeTimeoutMs: 15_000, adminPort: 0, ...overrides }));
  return path;
}

/** Runs chatd with args until it exits; SIGKILLed (and rejected) after timeoutMs. `as`: another user (needs root). */
export function runChatd(t: Teardown, args: string[], timeoutMs = 15_000, as?: { uid: number; gid: number }): Promise<Run> {
  const t0 = Date.now();
  // As another user, without the test runner's hooks (NODE_OPTIONS): they write where that user may not.
  const [cmd, argv] = as ? ['env', ['-u', 'NODE_OPTIONS', process.execPath, CHATD_MAIN, ...args]] : [process.execPath, [CHATD_MAIN, ...args]];
  const proc = spawn(cmd, argv, { stdio: ['ignore', 'pipe', 'pipe'], ...as });
  t.teardown(() => {
    if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGKILL');
  });
  let stdout = '';
  let stderr = '';
  proc.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  proc.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL');
      reject(new Error(`chatd ${args.join(' ')} did not exit within ${timeoutMs} ms; stderr: ${stderr}; stdout: ${stdout.slice(0, 2_000)}`));
    }, timeoutMs);
    // 'close', not 'exit': every byte of stdout and stderr has been read.
    proc.once('close', (code, signal) => {
      clearTimeout(timer);
      const logs = stdout
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map((l) => {
          try {
            return JSON.parse(l) as LogLine;
          } catch {
            return { event: 'unparsed', line: l };
          }
        });
      resolve({ code, signal, stdout, stderr, logs, ms: Date.now() - t0 });
    });
  });
}

/** Why tmpfs mounts cannot be used here, or undefined if they can. */
export function noMounts(): string | undefined {
  if (process.getuid?.() !== 0) return 'needs root to mount a tmpfs';
  const probe = mkdtempSync(join(tmpdir(), 'chatd-mnt-probe-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', probe], { stdio: 'pipe' });
    execFileSync('umount', [probe], { stdio: 'pipe' });
    return undefined;
  } catch (err) {
    return `cannot mount a tmpfs here: ${(err as Error).message.split('\n')[0]}`;
  } finally {
    rmSync(probe, { recursive: true, force: true });
  }
}

/** A tmpfs of sizeKb mounted on a new folder, unmounted (lazily: a killed process may still hold it) at teardown. */
export function mountTmpfs(t: Teardown, sizeKb: number): string {
  const dir = mkdtempSync(join(tmpdir(), 'chatd-mnt-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeKb}k`, 'tmpfs', dir], { stdio: 'pipe' });
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', dir], { stdio: 'pipe' });
    } catch {
      /* not mounted */
    }
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

export function remountReadOnly(dir: string): void {
  execFileSync('mount', ['-o', 'remount,ro', dir], { stdio: 'pipe' });
}

/** A pid that is certainly not running: a child that has exited and been reaped. */
export async function deadPid(): Promise<number> {
  const p = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((resolve) => p.once('exit', resolve));
  return p.pid!;
}

/** The promise's value, or `timeout` if it takes longer than ms (the timer does not outlive the race). */
export async function within<T>(p: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  try {
    return await Promise.race([p, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
