// Where a process's JSON log lines go. A log reader that stalls (a paused
// pager, `| head` that exited, a supervisor whose loop is busy) must never
// stop chatd from serving or from exiting, so this writer:
// - never blocks: pipes and sockets are made non-blocking, and a full pipe
//   leaves lines queued for a retry instead of waiting. (An async write on
//   a blocking pipe parks a libuv pool thread in write(2), and Node joins
//   those threads at exit: the process cannot exit until the reader reads.)
// - bounds what it queues (maxBytes): beyond it whole lines are dropped and
//   counted, and once the queue drains one `log_lines_dropped` line says how
//   many;
// - gives up on a destination that is gone (EPIPE and other write errors):
//   later lines are dropped;
// - flushes on exit only within a time bound (flushWithin), never with a
//   synchronous retry loop: pino's own destination retries a broken or full
//   pipe for ever in flushSync, which it also runs at exit.
// Each write of a whole line is one write(2) while the reader keeps up (as
// pino's default synchronous destination), so lines of several processes
// relayed onto one stream never interleave.
import { closeSync, fstatSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Log bytes one process holds for a slow reader before it drops lines (per process: the supervisor and each room). */
export const LOG_QUEUE_MAX_BYTES = 8 * 1024 * 1024;
/** How often a full pipe is tried again. */
const RETRY_MS = 25;

export class LogSink {
  /** Lines dropped since the last report (queue full). */
  private dropped = 0;
  private readonly queue: Buffer[] = [];
  private queuedBytes = 0;
  private retryTimer: NodeJS.Timeout | undefined;
  private waiters: Array<() => void> = [];
  private pumping = false;
  /** The write error that ended this destination (EPIPE: the reader is gone). */
  broken: NodeJS.ErrnoException | undefined;
  /** Told how many lines were dropped, once the queue has drained; the logger sets it to log one line. */
  onDropped: ((count: number) => void) | undefined;

  constructor(
    /** Not readonly: reopen() swaps it. */
    public fd: number,
    readonly maxBytes = LOG_QUEUE_MAX_BYTES,
    /** The file this sink appends to; undefined for stdout. */
    readonly path?: string,
  ) {
    // What is still queued at exit gets one more non-blocking try.
    process.on('exit', () => this.pump());
  }

  /** Queues a chunk of whole lines; never throws, never blocks. */
  write(chunk: string): boolean {
    if (this.broken) return true;
    if (this.queuedBytes > 0) {
      const buf = Buffer.from(chunk);
      if (this.queuedBytes + buf.length > this.maxBytes) {
        this.dropped++;
        return true;
      }
      this.enqueue(buf);
      return true;
    }
    const rest = this.writeNow(Buffer.from(chunk));
    if (rest) {
      this.enqueue(rest);
      this.scheduleRetry();
    }
    return true;
  }

  /** pino's logger.flush(): one non-blocking attempt now; cb once drained (bounded). */
  flush(cb?: (err?: Error) => void): void {
    this.pump();
    if (cb) void this.flushWithin(1_000).then(() => cb());
  }

  /** Resolves true once everything queued was written, false if the destination is gone or timeoutMs passed first. */
  flushWithin(timeoutMs: number): Promise<boolean> {
    this.pump();
    if (this.broken) return Promise.resolve(false);
    if (this.queuedBytes === 0) return Promise.resolve(true);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(this.broken === undefined);
      };
      this.waiters.push(done);
    });
  }

  /**
   * Opens the file again by its path, for log rotation (move the file, then
   * SIGHUP): later lines, and any still queued, go to a new file at the
   * path. False for stdout, which has no path. Throws if the path cannot be
   * opened; the old file is then kept.
   */
  reopen(): boolean {
    if (this.path === undefined) return false;
    mkdirSync(dirname(this.path), { recursive: true });
    const fd = openSync(this.path, 'a');
    const old = this.fd;
    this.fd = fd;
    // A file that failed (a full disk) may take lines again at its new start.
    this.broken = undefined;
    try {
      closeSync(old);
    } catch {
      /* already closed */
    }
    this.pump();
    return true;
  }

  /** Bytes waiting for the reader. */
  get pendingBytes(): number {
    return this.queuedBytes;
  }

  private enqueue(buf: Buffer): void {
    this.queue.push(buf);
    this.queuedBytes += buf.length;
  }

  /** Writes what it can without blocking; returns the unwritten rest, or undefined when all went (or the destination is gone). */
  private writeNow(buf: Buffer): Buffer | undefined {
    let off = 0;
    while (off < buf.length) {
      try {
        off += writeSync(this.fd, buf, off, buf.length - off);
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code === 'EAGAIN' || code === 'EWOULDBLOCK' || code === 'EINTR') return buf.subarray(off);
        this.fail(err as NodeJS.ErrnoException);
        return undefined;
      }
    }
    return undefined;
  }

  private pump(): void {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.queue.length > 0 && !this.broken) {
        const head = this.queue[0]!;
        const rest = this.writeNow(head);
        if (rest) {
          this.queue[0] = rest;
          this.queuedBytes -= head.length - rest.length;
          this.scheduleRetry();
          return;
        }
        this.queue.shift();
        this.queuedBytes -= head.length;
      }
      if (this.broken) return;
      if (this.dropped > 0) {
        const n = this.dropped;
        this.dropped = 0;
        this.onDropped?.(n);
      }
    } finally {
      this.pumping = false;
    }
    if (this.queuedBytes === 0) this.settle();
  }

  private scheduleRetry(): void {
    if (this.retryTimer) return;
    // Unref'd: a stalled reader must not keep a process alive.
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      this.pump();
    }, RETRY_MS).unref();
  }

  private fail(err: NodeJS.ErrnoException): void {
    this.broken = err;
    this.queue.length = 0;
    this.queuedBytes = 0;
    this.settle();
  }

  private settle(): void {
    const ws = this.waiters;
    this.waiters = [];
    for (const w of ws) w();
  }
}

let stdoutSink: LogSink | undefined;

/** The process's one sink on its stdout (every logger of a process shares it, so its bound is per process). */
export function openStdoutSink(maxBytes = LOG_QUEUE_MAX_BYTES): LogSink {
  if (stdoutSink) return stdoutSink;
  const st = fstatSync(1);
  // Node makes a pipe or socket non-blocking when it opens process.stdout
  // on it (libuv's uv_pipe_open); the stream itself is never written.
  if (st.isFIFO() || st.isSocket()) void process.stdout;
  stdoutSink = new LogSink(1, maxBytes);
  return stdoutSink;
}

/** A sink appending to a file (its folder is created); throws if it cannot be opened. */
export function openFileSink(path: string, maxBytes = LOG_QUEUE_MAX_BYTES): LogSink {
  mkdirSync(dirname(path), { recursive: true });
  const sink = new LogSink(openSync(path, 'a'), maxBytes, path);
  process.on('exit', () => {
    try {
      closeSync(sink.fd);
    } catch {
      /* closed */
    }
  });
  return sink;
}

/** The sink for a logDestination value: "stdout" or a file path. */
export function openLogSink(destination: string, maxBytes = LOG_QUEUE_MAX_BYTES): LogSink {
  return destination === 'stdout' ? openStdoutSink(maxBytes) : openFileSink(destination, maxBytes);
}
