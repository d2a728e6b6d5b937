// The room's journal: every sequenced event, one JSON line each, written
// whole before the event may leave the room (protocol "Durability"), so a
// room killed with SIGKILL restarts with its seq and history.
//
// A write is all or nothing: a short write is continued, and a write that
// fails (disk full, I/O error) is cut off again, so the file never holds an
// event that was not acknowledged... except where even the cut fails; then
// the journal refuses every write until a cut succeeds. Writes are
// positional (not O_APPEND), so the file's length is always the one this
// process knows to be good. The file is rewritten to the held history once
// it has grown to twice the history size.
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  fsync,
  fsyncSync,
  ftruncateSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  rmSync,
  truncateSync,
  writeSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { ChatError } from '../lib/errors.js';
import { isPlainObject } from '../lib/schema.js';
import { errnoCode, storageCause } from '../lib/storage-errors.js';
import { MsgEvent, PresenceEvent, type SequencedEvent } from '../lib/wire.js';

export interface Journal {
  /** Stores these encoded events whole, one line each, or throws JournalError and keeps the file as it was. */
  write(events: readonly Buffer[]): void;
  /** Replaces the file's content with these events (oldest first); throws JournalError and keeps the old file on failure. */
  compact(events: Buffer[]): void;
  /** True once the file holds enough lines that compact() is worth it. */
  readonly needsCompaction: boolean;
  close(): void;
}

/** A journal write that did not happen: nothing of it may be acknowledged. Its message names the cause, never the path. */
export class JournalError extends ChatError {
  constructor(
    readonly errno: string | undefined,
    cause: string,
  ) {
    super('ROOM_UNAVAILABLE', `the room cannot store messages now: ${cause}`);
  }
}

export function journalError(err: unknown): JournalError {
  return err instanceof JournalError ? err : new JournalError(errnoCode(err), storageCause(err));
}

export interface Restored {
  /** Events, oldest first, seqs strictly increasing (holes possible: lost lines): the line as written, and its validated fields. */
  events: Array<{ seq: number; encoded: Buffer; value: SequencedEvent }>;
  /** Lines that did not parse as an event, or repeated a seq already read. */
  skipped: number;
  /** Lines whose seq was below an earlier line's (kept, in seq order). */
  reordered: number;
  /** Bytes after the last newline: a write torn by a crash (cut off before appending). */
  tornBytes: number;
  /** The file did not exist. */
  missing: boolean;
}

const NL = Buffer.from('\n');

/**
 * Durability, as Redis's appendfsync. Every write reaches the OS before any
 * datagram leaves, so a process crash loses nothing; fsync decides what a
 * machine crash can lose: `always` nothing, `interval` up to intervalMs,
 * `never` whatever the OS had not written back.
 */
export interface FsyncPolicy {
  mode: 'always' | 'interval' | 'never';
  intervalMs: number;
  clock?: Clock;
  /** Injected for tests; fs.fsyncSync by default. */
  fsync?: (fd: number) => void;
  /**
   * The `interval` fsync, off the event loop (as Redis's everysec runs it on
   * a background thread): fs.fsync on libuv's thread pool by default; with
   * only `fsync` injected, that one, called at once.
   */
  fsyncAsync?: (fd: number, done: (err: NodeJS.ErrnoException | null) => void) => void;
  /** Told how long each fsync of a write took, in milliseconds (the room's stats). */
  observeFsync?: (ms: number) => void;
}

/** The file-system calls a journal makes, injectable so tests can fail and short-write them. */
export interface JournalFs {
  write(fd: number, buf: Buffer, offset: number, length: number, position: number): number;
  truncate(fd: number, length: number): void;
}

const realFs: JournalFs = {
  write: (fd, buf, offset, length, position) => writeSync(fd, buf, offset, length, position),
  truncate: (fd, length) => ftruncateSync(fd, length),
};

export class FileJournal implements Journal {
  private fd: number;
  /** Bytes of the file known to hold whole lines: every write goes here, every failure is cut back to it. */
  private size: number;
  private lines = 0;
  /** A failed write could not be cut off: the tail past `size` may hold unacknowledged lines. */
  private tainted = false;
  private unsynced = false;
  private syncTimer: Timer | undefined;
  private readonly clock: Clock;
  private readonly fsync: (fd: number) => void;
  private readonly fsyncAsync: NonNullable<FsyncPolicy['fsyncAsync']>;
  /** An interval fsync on the thread pool; one at a time. */
  private syncing = false;
  /** Descriptors replaced by compaction while an fsync of theirs was in flight: closed when it ends. */
  private closeAfterSync: number[] = [];
  /** An interval fsync that failed: the next write fsyncs first, and fails if that fails too. */
  private syncError: Error | undefined;

  constructor(
    private readonly path: string,
    private readonly compactAt: number,
    private readonly policy: FsyncPolicy = { mode: 'never', intervalMs: 1_000 },
    private readonly fs: JournalFs = realFs,
  ) {
    this.clock = policy.clock ?? systemClock;
    this.fsync = policy.fsync ?? fsyncSync;
    const injected = policy.fsync;
    this.fsyncAsync =
      policy.fsyncAsync ??
      (injected
        ? (fd, done) => {
            injected(fd);
            done(null);
          }
        : fsync);
    mkdirSync(dirname(path), { recursive: true });
    this.lines = cutTornTail(path);
    this.fd = openSync(path, constants.O_RDWR | constants.O_CREAT, 0o644);
    this.size = fstatSync(this.fd).size;
  }

  write(events: readonly Buffer[]): void {
    if (events.length === 0) return;
    this.ensureWritable();
    const parts: Buffer[] = [];
    for (const e of events) parts.push(e, NL);
    const buf = Buffer.concat(parts);
    try {
      let done = 0;
      while (done < buf.length) {
        // A short write is not an error (tmpfs returns one just before ENOSPC): continue it.
        const n = this.fs.write(this.fd, buf, done, buf.length - done, this.size + done);
        if (n <= 0) throw Object.assign(new Error('short write'), { code: 'SHORT_WRITE' });
        done += n;
      }
      if (this.policy.mode === 'always') this.timedFsync();
    } catch (err) {
      this.cutBack();
      throw journalError(err);
    }
    this.size += buf.length;
    this.lines += events.length;
    if (this.policy.mode === 'interval') this.scheduleSync();
  }

  /** Refuses to write while the file may not be what this process believes it is. */
  private ensureWritable(): void {
    if (this.tainted) {
      this.cutBack();
      if (this.tainted) throw new JournalError('TAINTED', 'a failed write could not be undone yet');
    }
    if (this.syncError) {
      try {
        this.fsync(this.fd);
        this.syncError = undefined;
      } catch (err) {
        throw journalError(err);
      }
    }
  }

  /** Cuts the file back to its last good length; if even that fails, every write is refused until it works. */
  private cutBack(): void {
    try {
      this.fs.truncate(this.fd, this.size);
      this.tainted = false;
    } catch {
      this.tainted = true;
    }
  }

  private scheduleSync(): void {
    this.unsynced = true;
    if (this.syncTimer) return;
    this.syncTimer = this.clock.setTimeout(() => this.syncNow(), this.policy.intervalMs);
    this.syncTimer.unref?.();
  }

  /**
   * The interval's fsync, on the thread pool: an fsync can take milliseconds
   * on a busy disk, and on the event loop it held up every datagram behind
   * it. Writes go on meanwhile (they are in the page cache either way); what
   * is written after the fsync began waits for the next interval.
   */
  private syncNow(): void {
    this.syncTimer = undefined;
    if (!this.unsynced) return;
    if (this.syncing) {
      // The last one has not finished: try again next interval.
      this.syncTimer = this.clock.setTimeout(() => this.syncNow(), this.policy.intervalMs);
      this.syncTimer.unref?.();
      return;
    }
    this.unsynced = false;
    this.syncing = true;
    const t0 = performance.now();
    this.fsyncAsync(this.fd, (err) => {
      this.policy.observeFsync?.(performance.now() - t0);
      this.syncing = false;
      if (err && !this.syncError) this.syncError = err;
      for (const fd of this.closeAfterSync.splice(0)) closeSync(fd);
    });
  }

  private timedFsync(): void {
    const t0 = performance.now();
    this.fsync(this.fd);
    this.policy.observeFsync?.(performance.now() - t0);
  }

  get needsCompaction(): boolean {
    return this.lines >= this.compactAt;
  }

  compact(events: Buffer[]): void {
    const tmp = `${this.path}.tmp`;
    const parts: Buffer[] = [];
    for (const e of events) parts.push(e, NL);
    const buf = Buffer.concat(parts);
    let fd: number | undefined;
    try {
      fd = openSync(tmp, 'w');
      let done = 0;
      while (done < buf.length) {
        const n = this.fs.write(fd, buf, done, buf.length - done, done);
        if (n <= 0) throw Object.assign(new Error('short write'), { code: 'SHORT_WRITE' });
        done += n;
      }
      // The rename replaces the old file: the new one must be durable first.
      if (this.policy.mode !== 'never') this.fsync(fd);
      closeSync(fd);
      fd = undefined;
      renameSync(tmp, this.path);
    } catch (err) {
      // The old file is intact: compaction is tried again after more lines.
      if (fd !== undefined) closeSync(fd);
      rmSync(tmp, { force: true });
      this.lines = Math.max(0, this.compactAt - Math.ceil(this.compactAt / 4));
      throw journalError(err);
    }
    // An fsync of the old descriptor may be on the thread pool: closing it
    // now could let the number be reused under that fsync.
    if (this.syncing) this.closeAfterSync.push(this.fd);
    else closeSync(this.fd);
    this.fd = openSync(this.path, constants.O_RDWR);
    this.size = buf.length;
    this.tainted = false;
    this.lines = events.length;
  }

  close(): void {
    if (this.syncTimer) this.clock.clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    // The last fsync is synchronous: the process may exit right after.
    try {
      if (this.unsynced) this.fsync(this.fd);
    } catch {
      // Nothing left to refuse: the room is closing.
    }
    this.unsynced = false;
    if (this.syncing) this.closeAfterSync.push(this.fd);
    else closeSync(this.fd);
  }
}

/**
 * A record torn by a crash is cut off before writing, or the next record
 * would be glued to it and lost at the next restart. Returns the number of
 * complete lines kept, toward compaction.
 */
function cutTornTail(path: string): number {
  if (!existsSync(path)) return 0;
  const buf = readFileSync(path);
  const end = buf.lastIndexOf(0x0a) + 1;
  if (end < buf.length) truncateSync(path, end);
  let lines = 0;
  for (let i = buf.indexOf(0x0a); i >= 0 && i < end; i = buf.indexOf(0x0a, i + 1)) lines++;
  return lines;
}

/** An in-memory journal for tests and for rooms run without a data directory. */
export class MemoryJournal implements Journal {
  lines: Buffer[] = [];
  needsCompaction = false;
  /** Set by tests: the next writes throw this (a full disk). */
  failWith: JournalError | undefined;
  write(events: readonly Buffer[]): void {
    if (this.failWith) throw this.failWith;
    this.lines.push(...events);
  }
  compact(events: Buffer[]): void {
    this.lines = [...events];
  }
  close(): void {}
}

/** Reads a journal, keeping every valid event once, in seq order. */
export function readJournal(path: string): Restored {
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { events: [], skipped: 0, reordered: 0, tornBytes: 0, missing: true };
    throw err;
  }
  const end = buf.lastIndexOf(0x0a) + 1;
  return { ...parseJournal(buf.subarray(0, end).toString('utf8')), tornBytes: buf.length - end, missing: false };
}

/**
 * Every line that is a valid event is kept: one bad or out-of-order line in
 * the middle must not cost the history around it. Lines are put in seq
 * order; a seq seen twice keeps its first line (a seq is never handed out
 * twice, so a second line for it is damage).
 */
export function parseJournal(text: string): Omit<Restored, 'tornBytes' | 'missing'> {
  const bySeq = new Map<number, Restored['events'][number]>();
  let skipped = 0;
  let reordered = 0;
  let last = 0;
  for (const line of text.split('\n')) {
    if (line === '') continue;
    let v: unknown;
    try {
      v = JSON.parse(line);
    } catch {
      skipped++;
      continue;
    }
    const parsed = isPlainObject(v) ? (v['type'] === 'msg' ? MsgEvent.parse(v) : PresenceEvent.parse(v)) : undefined;
    if (!parsed?.ok || bySeq.has(parsed.value.seq)) {
      skipped++;
      continue;
    }
    const value = parsed.value;
    if (value.seq < last) reordered++;
    last = Math.max(last, value.seq);
    bySeq.set(value.seq, { seq: value.seq, encoded: Buffer.from(line, 'utf8'), value });
  }
  const events = [...bySeq.values()];
  if (reordered > 0) events.sort((a, b) => a.seq - b.seq);
  return { events, skipped, reordered };
}

/** What a room with no journal yet starts from. */
export const NOTHING_RESTORED: Readonly<Restored> = Object.freeze({ events: [], skipped: 0, reordered: 0, tornBytes: 0, missing: true });
