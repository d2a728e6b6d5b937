// Keeps a room from ever handing out a seq twice (protocol "Durability"),
// whatever happens to its process or its journal. Two witnesses outlive an
// incarnation:
//
// - the seq mark: a small file beside the journal, overwritten in place with
//   the highest seq before each journal write (one pwrite, nothing to wait
//   for). A journal that was deleted, cut or torn ends below the mark, so
//   the next incarnation continues above the mark instead of reusing seqs.
// - the lease, held by the supervisor: the room hands out seqs only up to
//   the ceiling the supervisor granted, and asks for more well before it
//   gets there. If the mark is lost too (the whole data directory went),
//   the next incarnation continues above the ceiling: every seq that may
//   have been handed out lies below it.
//
// A report above the mark's or the lease's reach refuses the commit: the
// room answers ROOM_UNAVAILABLE rather than hand out a seq nobody would
// remember. Writing the mark before the journal only ever makes a restart
// skip seqs, never reuse one.
import { closeSync, constants, openSync, readFileSync, writeSync } from 'node:fs';
import { ChatError } from '../lib/errors.js';
import { LEASE_SPAN } from '../lib/ipc.js';
import { errnoCode } from '../lib/storage-errors.js';
import { journalError } from './journal.js';
import type { SeqWitness } from './room.js';

/** Fixed width, so every overwrite covers the last one whole. */
const MARK_WIDTH = 20;

export function seqMarkPath(journalPath: string): string {
  return journalPath.replace(/\.jsonl$/, '') + '.seq';
}

/** The mark's seq, or undefined when the file is missing or does not hold one. */
export function readSeqMark(path: string): { seq: number } | { missing: true } | { invalid: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if (errnoCode(err) === 'ENOENT') return { missing: true };
    return { invalid: errnoCode(err) ?? 'unreadable' };
  }
  const m = /^\s*(\d{1,16})\s*$/.exec(text);
  if (!m) return { invalid: 'not a number' };
  return { seq: Number(m[1]) };
}

export class SeqMark {
  private fd: number | undefined;

  constructor(private readonly path: string) {}

  /** Overwrites the mark with seq; throws a JournalError on failure (nothing may be handed out then). */
  write(seq: number): void {
    try {
      this.fd ??= openSync(this.path, constants.O_WRONLY | constants.O_CREAT, 0o644);
      const buf = Buffer.from(String(seq).padStart(MARK_WIDTH, ' ') + '\n');
      if (writeSync(this.fd, buf, 0, buf.length, 0) !== buf.length) throw Object.assign(new Error('short write'), { code: 'SHORT_WRITE' });
    } catch (err) {
      throw journalError(err);
    }
  }

  close(): void {
    if (this.fd !== undefined) closeSync(this.fd);
    this.fd = undefined;
  }
}

export interface LeaseChannel {
  /** Asks the supervisor to raise the ceiling to upTo; granted() is called with its answer. */
  request(upTo: number): void;
}

/** The witness a room process uses: the mark file, within the supervisor's lease. */
export class SeqGuard implements SeqWitness {
  private asked = 0;

  constructor(
    private readonly mark: SeqMark,
    private leaseTo: number,
    private readonly channel: LeaseChannel,
  ) {}

  report(seq: number): void {
    if (seq > this.leaseTo - LEASE_SPAN / 2) this.ask(seq + LEASE_SPAN);
    if (seq > this.leaseTo) throw new ChatError('ROOM_UNAVAILABLE', 'the room is waiting for its supervisor');
    this.mark.write(seq);
  }

  /** The supervisor raised the ceiling. */
  granted(upTo: number): void {
    if (upTo > this.leaseTo) this.leaseTo = upTo;
    if (this.asked <= this.leaseTo) this.asked = 0;
  }

  private ask(upTo: number): void {
    // One request in flight; a later, higher one waits for its answer.
    if (this.asked !== 0) return;
    this.asked = upTo;
    this.channel.request(upTo);
  }
}

/** Where a restarted room continues, and why: one log line. */
export function startingSeq(journalSeq: number, mark: ReturnType<typeof readSeqMark>, ceiling: number): { seq: number; basis: string } {
  if ('seq' in mark && mark.seq <= ceiling) {
    return mark.seq > journalSeq ? { seq: mark.seq, basis: 'seq-mark' } : { seq: journalSeq, basis: 'journal' };
  }
  if (ceiling === 0 && 'missing' in mark) return { seq: journalSeq, basis: 'journal' };
  // No mark to trust: everything below the supervisor's ceiling may have been handed out.
  return { seq: Math.max(journalSeq, ceiling), basis: 'lease' };
}
