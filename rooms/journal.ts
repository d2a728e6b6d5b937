// The room's journal: every sequenced event, one JSON line each, appended
// before the event is sent (Outbox beforeFlush), so a room killed with
// SIGKILL restarts with its seq and history. A torn last line or a corrupt
// line is skipped on read, never fatal. The file is rewritten to the held
// history once it has grown to twice the history size.
import { closeSync, existsSync, fsync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, truncateSync, writeSync } from 'node:fs';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { dirname } from 'node:path';
import { MsgEvent, PresenceEvent } from '../lib/wire.js';
import { isPlainObject } from '../lib/schema.js';

export interface Journal {
  append(encoded: Buffer): void;
  /** Writes everything appended so far (called before any datagram leaves). */
  flush(): void;
  /** Replaces the file's content with these events (oldest first). */
  compact(events: Buffer[]): void;
  /** True once the file holds enough lines that compact() is worth it. */
  readonly needsCompaction: boolean;
  close(): void;
}

export interface Restored {
  /** Encoded events, oldest first, seqs strictly increasing. */
  events: Array<{ seq: number; encoded: Buffer; value: Record<string, unknown> }>;
  skipped: number;
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
}

export class FileJournal implements Journal {
  private fd: number;
  private pending: Buffer[] = [];
  private lines = 0;
  private unsynced = false;
  private syncTimer: Timer | undefined;
  private readonly clock: Clock;
  private readonly fsync: (fd: number) => void;
  private readonly fsyncAsync: NonNullable<FsyncPolicy['fsyncAsync']>;
  /** An interval fsync on the thread pool; one at a time. */
  private syncing = false;
  /** Descriptors replaced by compaction while an fsync of theirs was in flight: closed when it ends. */
  private closeAfterSync: number[] = [];
  /** An interval fsync that failed: thrown by the next flush, as a failed write would be. */
  private syncError: Error | undefined;

  constructor(
    private readonly path: string,
    private readonly compactAt: number,
    private readonly policy: FsyncPolicy = { mode: 'never', intervalMs: 1_000 },
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
    this.fd = openSync(path, 'a');
  }

  append(encoded: Buffer): void {
    this.pending.push(encoded, NL);
    this.lines++;
  }

  flush(): void {
    if (this.syncError) throw this.syncError;
    if (this.pending.length === 0) return;
    const buf = Buffer.concat(this.pending);
    this.pending = [];
    writeSync(this.fd, buf);
    this.afterWrite();
  }

  private afterWrite(): void {
    if (this.policy.mode === 'always') return this.fsync(this.fd);
    if (this.policy.mode === 'never') return;
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
    this.fsyncAsync(this.fd, (err) => {
      this.syncing = false;
      if (err && !this.syncError) this.syncError = err;
      for (const fd of this.closeAfterSync.splice(0)) closeSync(fd);
    });
  }

  get needsCompaction(): boolean {
    return this.lines >= this.compactAt;
  }

  compact(events: Buffer[]): void {
    this.flush();
    const tmp = `${this.path}.tmp`;
    const fd = openSync(tmp, 'w');
    const parts: Buffer[] = [];
    for (const e of events) parts.push(e, NL);
    writeSync(fd, Buffer.concat(parts));
    // The rename replaces the old file: the new one must be durable first.
    if (this.policy.mode !== 'never') this.fsync(fd);
    closeSync(fd);
    renameSync(tmp, this.path);
    // An fsync of the old descriptor may be on the thread pool: closing it
    // now could let the number be reused under that fsync.
    if (this.syncing) this.closeAfterSync.push(this.fd);
    else closeSync(this.fd);
    this.fd = openSync(this.path, 'a');
    this.lines = events.length;
  }

  close(): void {
    this.flush();
    if (this.syncTimer) this.clock.clearTimeout(this.syncTimer);
    this.syncTimer = undefined;
    // The last fsync is synchronous: the process may exit right after.
    if (this.unsynced) this.fsync(this.fd);
    this.unsynced = false;
    if (this.syncing) this.closeAfterSync.push(this.fd);
    else closeSync(this.fd);
  }
}

/**
 * A record torn by a crash is cut off before appending, or the next record
 * would be glued to it and lost at the next restart (and its seq reused).
 * Returns the number of complete lines kept, toward compaction.
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
  private pending: Buffer[] = [];
  append(encoded: Buffer): void {
    this.pending.push(encoded);
  }
  flush(): void {
    this.lines.push(...this.pending);
    this.pending = [];
  }
  compact(events: Buffer[]): void {
    this.pending = [];
    this.lines = [...events];
  }
  close(): void {
    this.flush();
  }
}

/** Reads a journal, keeping valid events with strictly increasing seq. */
export function readJournal(path: string): Restored {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return { events: [], skipped: 0 };
  }
  return parseJournal(text);
}

export function parseJournal(text: string): Restored {
  const events: Restored['events'] = [];
  let skipped = 0;
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
    const ok = isPlainObject(v) && (v['type'] === 'msg' ? MsgEvent.parse(v).ok : PresenceEvent.parse(v).ok);
    const seq = ok ? (v as { seq: number }).seq : 0;
    if (!ok || seq <= last) {
      skipped++;
      continue;
    }
    last = seq;
    events.push({ seq, encoded: Buffer.from(line, 'utf8'), value: v as Record<string, unknown> });
  }
  return { events, skipped };
}
