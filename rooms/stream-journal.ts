// A room's journal in cluster mode: its subject of the cluster's JetStream
// stream (rooms/nats-stream.ts), written with group commit. One batch is in
// flight at a time; lines appended meanwhile wait and go together in the
// next one, so a busy room writes large batches and an idle one small ones,
// each after one round trip (protocol "Durability": nothing leaves the room
// before JetStream has stored it with its replicas).
//
// Every publish expects the subject's last stream sequence to be the one
// this writer last stored (or read, for the first): a writer that lost the
// room to another node — whose first append, its claim, moved that sequence
// — is refused, and rejects everything it holds with JournalFenced. A
// publish that fails otherwise (no stream leader during an election, a
// timeout, a reconnect) is retried unchanged, same msgID, for as long as the
// room lives: JetStream's dedupe answers a retry of a batch that was stored
// after all with `duplicate` before it checks the fence, so a lost ack costs
// nothing and no batch is stored twice.
import { ChatError } from '../lib/errors.js';
import type { Clock, Timer } from '../lib/clock.js';
import type { StoredBatch } from './stream-records.js';

/** The stream as the journal sees it (rooms/nats-stream.ts over NATS; tests use a fake). */
export interface StreamPort {
  /** Stores one batch if the subject's last sequence is expectLast; resolves with its sequence. Rejects with StreamConflict when it is not. */
  publish(payload: Buffer, msgID: string, expectLast: number): Promise<{ seq: number; duplicate: boolean }>;
  /** Every batch on the room's subject, oldest first, with its sequence, and the sequence of the last (0: none). */
  read(): Promise<{ batches: StoredBatch[]; last: number }>;
  /** Removes the room's batches up to and including sequence upTo (compaction: a snapshot covers them). */
  purgeUpTo(upTo: number): Promise<void>;
  close(): Promise<void>;
}

/** The subject's last sequence was not the expected one: another writer appended. */
export class StreamConflict extends Error {
  override name = 'StreamConflict';
}

/** Another node (or incarnation) holds the room now: nothing this writer holds will be stored. */
export class JournalFenced extends ChatError {
  override name = 'JournalFenced';
  constructor() {
    super('ROOM_UNAVAILABLE', 'the room has moved to another node');
  }
}

/** The journal was closed before these lines were stored. */
export class JournalClosed extends ChatError {
  override name = 'JournalClosed';
  constructor() {
    super('ROOM_UNAVAILABLE', 'the room is closing');
  }
}

/** A replicated journal as the room uses it: appends complete in order, each once stored. */
export interface ReplicatedJournal {
  append(lines: readonly Buffer[]): Promise<void>;
  /** Lines appended and not yet stored. */
  readonly pendingLines: number;
  /** The stream position of the last batch stored. */
  readonly lastSeq: number;
  /** Drops what a stored snapshot covers: the batches up to upTo. */
  compact(upTo: number): Promise<void>;
  close(): void;
}

/** First retry delay of a failed publish; doubles up to the maximum. */
const RETRY_MIN_MS = 50;
const RETRY_MAX_MS = 1_000;
/** A batch stays well under NATS's default 1 MB payload limit. */
const MAX_BATCH_BYTES = 512 * 1024;
const NL = Buffer.from('\n');

interface Waiting {
  lines: readonly Buffer[];
  bytes: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export interface StreamJournalOptions {
  port: StreamPort;
  clock: Clock;
  /** Unique to this incarnation: batch msgIDs are `${writerId}.${n}`. */
  writerId: string;
  /** The subject's last sequence when the room read it. */
  last: number;
  /** Told once per spell of failing publishes, and when they work again. */
  onTrouble?: (err: unknown, attempt: number) => void;
  onRecovered?: (attempts: number) => void;
}

export class StreamJournal implements ReplicatedJournal {
  private last: number;
  private queue: Waiting[] = [];
  private inFlight = false;
  private batches = 0;
  private closed = false;
  private fenced = false;
  private retryTimer: Timer | undefined;
  /** Ends the wait before a retry early (close). */
  private wake: (() => void) | undefined;
  /** Lines waiting or in flight: the room refuses new messages above a bound. */
  pendingLines = 0;

  constructor(private readonly o: StreamJournalOptions) {
    this.last = o.last;
  }

  /** The subject's sequence this writer last stored or read. */
  get lastSeq(): number {
    return this.last;
  }

  append(lines: readonly Buffer[]): Promise<void> {
    if (this.fenced) return Promise.reject(new JournalFenced());
    if (this.closed) return Promise.reject(new JournalClosed());
    let bytes = 0;
    for (const l of lines) bytes += l.length + 1;
    return new Promise<void>((resolve, reject) => {
      this.queue.push({ lines, bytes, resolve, reject });
      this.pendingLines += lines.length;
      this.pump();
    });
  }

  compact(upTo: number): Promise<void> {
    return this.o.port.purgeUpTo(upTo);
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) this.o.clock.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.wake?.();
    if (!this.inFlight) this.failAll(new JournalClosed());
  }

  private pump(): void {
    if (this.inFlight || this.queue.length === 0 || this.closed) return;
    // Everything waiting goes in one batch, up to the size limit.
    const batch: Waiting[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && (batch.length === 0 || bytes + this.queue[0]!.bytes <= MAX_BATCH_BYTES)) {
      const w = this.queue.shift()!;
      batch.push(w);
      bytes += w.bytes;
    }
    const parts: Buffer[] = [];
    for (const w of batch) for (const l of w.lines) parts.push(l, NL);
    this.inFlight = true;
    void this.store(batch, Buffer.concat(parts), `${this.o.writerId}.${++this.batches}`);
  }

  private async store(batch: Waiting[], payload: Buffer, msgID: string): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      if (this.closed) return this.settle(batch, new JournalClosed());
      try {
        const ack = await this.o.port.publish(payload, msgID, this.last);
        this.last = ack.seq;
        if (attempt > 0) this.o.onRecovered?.(attempt);
        return this.settle(batch, undefined);
      } catch (err) {
        if (err instanceof StreamConflict) {
          this.fenced = true;
          return this.settle(batch, new JournalFenced());
        }
        // Closed while it was in flight: close() left this batch to us, and no retry is due.
        if (this.closed) return this.settle(batch, new JournalClosed());
        if (attempt === 0) this.o.onTrouble?.(err, attempt);
        // Transient (an election, a timeout, a reconnect): the same batch again, after a pause.
        await new Promise<void>((resolve) => {
          // Closing wakes the wait, so a closed journal does not linger.
          this.wake = resolve;
          this.retryTimer = this.o.clock.setTimeout(resolve, Math.min(RETRY_MAX_MS, RETRY_MIN_MS * 2 ** Math.min(attempt, 10)));
        });
        this.wake = undefined;
        this.retryTimer = undefined;
      }
    }
  }

  private settle(batch: Waiting[], err: Error | undefined): void {
    this.inFlight = false;
    for (const w of batch) {
      this.pendingLines -= w.lines.length;
      if (err) w.reject(err);
      else w.resolve();
    }
    // Closed while a batch was in flight (even one that got stored): what waited behind it never will be.
    if (this.fenced || this.closed) return this.failAll(err ?? new JournalClosed());
    this.pump();
  }

  private failAll(err: Error): void {
    const q = this.queue;
    this.queue = [];
    for (const w of q) {
      this.pendingLines -= w.lines.length;
      w.reject(err);
    }
  }
}
