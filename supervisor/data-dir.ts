// dataDir belongs to one running chatd. At start chatd checks that it can
// write there and locks it (dataDir/chatd.lock holds its pid), before it
// deletes an earlier run's journals: a second chatd on the same dataDir
// stops here and touches nothing. A lock whose pid is dead, or alive but not
// a chatd (pids are reused), is stale and taken over.
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync, unlinkSync, writeSync } from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import type { Config } from '../lib/config.js';
import type { Logger } from '../lib/logger.js';
import { isSupervisorTitle } from '../lib/titles.js';

export const LOCK_FILE = 'chatd.lock';
/** A lock file found empty may be one another chatd has just created and not yet written: it gets this long. */
const EMPTY_LOCK_GRACE_MS = 500;
const TAKEOVER_ATTEMPTS = 5;

/** dataDir cannot be used: `kind` picks the exit code, `message` is the operator's one line. */
export class DataDirError extends Error {
  override name = 'DataDirError';
  constructor(
    readonly kind: 'unusable' | 'locked',
    message: string,
    readonly fields: Record<string, unknown>,
  ) {
    super(message);
  }
}

export interface DataDirLock {
  readonly lockPath: string;
  release(): void;
}

/** Creates dataDir if needed, locks it, and checks that journals can be written; throws DataDirError. */
export function openDataDir(config: Config, log: Logger): DataDirLock {
  const dir = resolve(config.dataDir);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw unusable(dir, err);
  }
  const lock = lockDataDir(dir, log);
  try {
    probe(joinPath(dir, 'rooms'), dir);
  } catch (err) {
    lock.release();
    throw err;
  }
  return lock;
}

/** Creates, writes, fsyncs and removes a file where journals go, so a full or read-only disk shows at start and not at the first join. */
function probe(roomsDir: string, dir: string): void {
  const path = joinPath(roomsDir, `.probe-${process.pid}`);
  try {
    mkdirSync(roomsDir, { recursive: true });
    const fd = openSync(path, 'w');
    try {
      writeSync(fd, Buffer.alloc(4096, 0x0a));
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    unlinkSync(path);
  } catch (err) {
    rmSync(path, { force: true });
    throw unusable(dir, err);
  }
}

function lockDataDir(dir: string, log: Logger): DataDirLock {
  const path = joinPath(dir, LOCK_FILE);
  for (let attempt = 0; attempt < TAKEOVER_ATTEMPTS; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644); // O_CREAT | O_EXCL: one chatd wins
    } catch (err) {
      if (errCode(err) !== 'EEXIST') throw unusable(dir, err);
      const text = readHolder(path);
      if (text === undefined) continue; // removed meanwhile: try again
      const verdict = judgeHolder(text);
      if (verdict.running) {
        throw new DataDirError(
          'locked',
          `dataDir "${dir}" is in use by another chatd (pid ${verdict.pid}, lock file ${path}): stop that chatd first, or give this one another "dataDir"`,
          { dataDir: dir, lockFile: path, holderPid: verdict.pid },
        );
      }
      // Removed only if it still says what was judged: another chatd taking
      // over the same stale lock may have just written its own.
      if (readText(path) !== text) continue;
      rmSync(path, { force: true });
      log.warn({ event: 'lock_taken_over', lockFile: path, stalePid: verdict.pid, why: verdict.why }, `stale lock of pid ${verdict.pid} (${verdict.why}) taken over`);
      continue;
    }
    try {
      writeSync(fd, `${process.pid}\n`);
      fsyncSync(fd);
    } catch (err) {
      rmSync(path, { force: true });
      throw unusable(dir, err);
    } finally {
      closeSync(fd);
    }
    const release = () => {
      // Only our own: a lock taken over from us (we were thought dead) is not ours to remove.
      if (readText(path)?.trim() !== String(process.pid)) return;
      try {
        rmSync(path, { force: true });
      } catch {
        /* dataDir went read-only: the next chatd finds the lock stale */
      }
    };
    process.once('exit', release);
    return {
      lockPath: path,
      release: () => {
        process.off('exit', release);
        release();
      },
    };
  }
  throw new DataDirError('locked', `dataDir "${dir}": could not take its lock ${path}: other processes keep taking it`, { dataDir: dir, lockFile: path });
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** The lock's text; an empty one is re-read for a moment (its chatd may be writing its pid). */
function readHolder(path: string): string | undefined {
  const until = Date.now() + EMPTY_LOCK_GRACE_MS;
  for (;;) {
    const text = readText(path);
    if (text === undefined || text.trim() !== '' || Date.now() >= until) return text;
    sleepSync(20);
  }
}

type Verdict = { running: true; pid: number } | { running: false; pid: number | string; why: string };

function judgeHolder(text: string): Verdict {
  const t = text.trim();
  if (!/^\d+$/.test(t)) return { running: false, pid: t.slice(0, 20), why: 'no pid in the lock file' };
  const pid = Number(t);
  // In a container chatd may get the same pid every start: a lock with our pid is an earlier life's.
  if (pid === process.pid) return { running: false, pid, why: 'left by an earlier process with this pid' };
  if (!isAlive(pid)) return { running: false, pid, why: 'not running' };
  if (!isChatd(pid)) return { running: false, pid, why: 'the pid now belongs to another program' };
  return { running: true, pid };
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return errCode(err) === 'EPERM'; // exists, owned by someone else
  }
}

/** Whether the pid runs chatd, by its command line; where that cannot be read, assume it does (never take a live lock by mistake). */
function isChatd(pid: number): boolean {
  let raw: string;
  try {
    raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
  } catch (err) {
    return errCode(err) !== 'ENOENT';
  }
  // A zombie has an empty command line: it holds nothing any more.
  const args = raw.split('\0');
  // A running chatd has replaced its command line with its title; one still starting has not yet.
  if (isSupervisorTitle(args[0] ?? '')) return true;
  return args.slice(1).some((arg) => /(^|\/)chatd$/.test(arg) || /(^|\/)supervisor\/main\.js$/.test(arg));
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

function errCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | undefined)?.code;
}

/** The operator's line for a file-system error on dataDir: the cause and what to do. */
function unusable(dir: string, err: unknown): DataDirError {
  const code = errCode(err);
  const fields = { dataDir: dir, code };
  switch (code) {
    case 'EEXIST':
    case 'ENOTDIR':
      return new DataDirError('unusable', `dataDir "${dir}" is not a directory (a file is in the way): remove it, or set "dataDir" to a directory`, fields);
    case 'EROFS':
      return new DataDirError('unusable', `dataDir "${dir}" is on a read-only file system: mount it read-write, or set "dataDir" to a writable directory`, fields);
    case 'EACCES':
    case 'EPERM':
      return new DataDirError(
        'unusable',
        `no permission to write in dataDir "${dir}" (running as uid ${process.getuid?.() ?? '?'}): fix its owner or mode, or set "dataDir" to a directory this user can write`,
        fields,
      );
    case 'ENOSPC':
    case 'EDQUOT':
      return new DataDirError('unusable', `no space left for dataDir "${dir}" (${code}): free some space on its file system, or set "dataDir" elsewhere`, fields);
    default:
      return new DataDirError('unusable', `dataDir "${dir}" cannot be used: ${(err as Error).message}`, fields);
  }
}
