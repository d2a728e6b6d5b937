// The room actor's state and behaviour, free of process and socket details:
// datagrams and IPC requests come in as method calls, datagrams go out
// through the Outbox, notices to the supervisor through `notify`. One
// message is handled at a time (Node's event loop is the mailbox).
import type { Clock, Timer } from '../lib/clock.js';
import { isDeepStrictEqual } from 'node:util';
import { liveConfig, type Config } from '../lib/config.js';
import { decodeDatagram, encode } from '../lib/codec.js';
import { endpointKey, type Endpoint } from '../lib/endpoint.js';
import { ChatError, errorInfo, type ErrorInfo } from '../lib/errors.js';
import type { FromRoom, LeaveRecord, MemberRecord } from '../lib/ipc.js';
import type { Logger } from '../lib/logger.js';
import { ReplayCache } from '../lib/replay-cache.js';
import { TokenBucket } from '../lib/token-bucket.js';
import { KeyedBuckets } from '../lib/keyed-buckets.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { hashToken } from '../lib/tokens.js';
import { fitError, ReplyBudget } from '../lib/reply-budget.js';
import { RoomRequest, echoableId, errorEvent, type MsgEvent, type PresenceEvent, type SequencedEvent } from '../lib/wire.js';
import { Challenges } from './challenges.js';
import { History } from './history.js';
import { journalError, type Journal, type Restored } from './journal.js';
import { JournalFenced, type ReplicatedJournal } from './stream-journal.js';
import { memberLine, movedLine } from './stream-records.js';
import { snapshotChunks } from './stream-snapshot.js';
import { Member, Roster } from './member.js';
import { Outbox, type Transport } from './outbox.js';
import { RoomCounters } from './stats.js';
import type { DropReason } from '../lib/room-stats.js';
import { commandOf, type RateBucket } from './handlers/index.js';
import { sayKey, type RoomOps, type SayOrigin } from './room-ops.js';

export type RoomStatus = 'running' | 'stopping' | 'stopped';

/** The close reason of a room whose node hands it to another (cluster mode): no `closed` goes out. */
export const MOVED = 'moved';

/** RATE_LIMITED replies one member may get per second; the rest of a flood is dropped silently. */
const LIMITED_REPLIES_PER_SEC = 5;
/** While presence events wait for the journal to take writes again, they are retried this often. */
const OWED_RETRY_MS = 1_000;
/**
 * Lines a replicated journal may hold unstored (while JetStream elects a
 * leader, for instance) before the room refuses new messages with
 * ROOM_UNAVAILABLE instead of queueing them.
 */
const MAX_UNSTORED_LINES = 4_096;

/**
 * Something that survives this process and learns each seq before any event
 * with it leaves the room (protocol "Durability": a seq is never handed out
 * twice): rooms/seq-guard.ts.
 */
export interface SeqWitness {
  /** Records that seqs up to `seq` may be handed out; throws a ChatError when it cannot (then nothing may leave). */
  report(seq: number): void;
}

/** An event sequenced in this turn, waiting for the journal write that lets it leave. */
interface Staged {
  event: SequencedEvent;
  encoded: Buffer;
  say?: SayOrigin;
}

/** How the room's latest incarnation started from its journal; logged once as `room_restored`. */
export interface RestoreReport {
  journalSeq: number;
  seqFloor: number;
  seq: number;
  events: number;
  skipped: number;
  reordered: number;
  tornBytes: number;
  missing: boolean;
  /** Seqs the journal no longer holds that may have been handed out: answered as gap. */
  lost: number;
}

/** A member added: the seq of its `presence join` and the room's size with it. */
export interface Added {
  seq: number;
  members: number;
}

export interface RoomDeps {
  name: string;
  config: Config;
  clock: Clock;
  transport: Transport;
  /** The file journal of a single node, or the replicated journal of cluster mode (rooms/stream-journal.ts). */
  journal: Journal | ReplicatedJournal;
  notify: (msg: FromRoom) => void;
  log: Logger;
  /** How the outbox defers its flush to the end of the turn (tests flush by hand). */
  schedule?: (fn: () => void) => void;
  /** Learns every seq before it leaves; none: nothing survives the room (tests, warm-up). */
  witness?: SeqWitness;
  /** Makes a challenge's nonce (unguessable; tests inject their own). */
  nonce?: () => string;
  /** Where the room counts what it does (rooms/stats.ts); its own by default. */
  counters?: RoomCounters;
}

export class Room implements RoomOps {
  readonly name: string;
  /** Replaced by reconfigure (a reload). */
  config: Config;
  readonly clock: Clock;
  readonly roster = new Roster();
  readonly history: History;
  readonly outbox: Outbox;
  readonly log: Logger;
  readonly counters: RoomCounters;
  /**
   * Latest seq handed out: written to the journal and free to leave
   * (protocol: 1, 2, 3, ... for the room's whole life). Events of the
   * current turn are staged above it until the turn's journal write.
   */
  seq = 0;
  status: RoomStatus = 'running';
  /** say ids already sequenced, by member: replays the original msg (protocol "Idempotence"). */
  readonly says: ReplayCache<Buffer>;
  /** Successful room-endpoint leaves, by token+endpoint+id: replays `left`. */
  readonly leaves: ReplayCache<Buffer>;
  private readonly journal: Journal | undefined;
  /** Cluster mode: events leave once this has stored them, a batch at a time (commit hands them off). */
  private readonly replicated: ReplicatedJournal | undefined;
  /** Cluster mode: this turn's lines in order, events and membership records (rooms/stream-records.ts). */
  private batchLines: Buffer[] = [];
  /** Cluster mode: says handed to the journal and not stored yet; a retry waits for the original's ack. */
  private readonly unstoredSays = new Map<string, Buffer>();
  /** Cluster mode: lines appended since the last snapshot (rooms/stream-snapshot.ts), and whether one is being written. */
  private linesSinceSnapshot = 0;
  private snapshotting = false;
  private readonly transport: Transport;
  private readonly limitedLog: LogLimiter;
  private readonly errorReplies: KeyedBuckets;
  private readonly notifySupervisor: (msg: FromRoom) => void;
  private readonly witness: SeqWitness | undefined;
  private readonly challenges: Challenges;
  private sweepTimer: Timer | undefined;
  /** Seq of the last staged event (seq when nothing is staged). */
  private stagedSeq = 0;
  private staged: Staged[] = [];
  /** Says staged this turn, by dedupe key: a retry in the same turn is not sequenced twice. */
  private readonly stagedSays = new Map<string, Buffer>();
  /** Leave and evict events whose write failed: the member is gone, the others hear of it once the journal takes writes. */
  private owed: PresenceEvent[] = [];
  private owedTimer: Timer | undefined;
  /** The journal refuses writes: says are answered ROOM_UNAVAILABLE until a write succeeds. */
  private storageFault: ErrorInfo | undefined;

  constructor(d: RoomDeps) {
    this.name = d.name;
    this.config = d.config;
    this.clock = d.clock;
    this.log = d.log;
    this.counters = d.counters ?? new RoomCounters();
    if (isReplicated(d.journal)) this.replicated = d.journal;
    else this.journal = d.journal;
    this.transport = d.transport;
    this.limitedLog = new LogLimiter(d.log, d.clock);
    this.errorReplies = new KeyedBuckets(d.clock, d.config.errorReplyRatePerSec, d.config.errorReplyBurst);
    this.notifySupervisor = d.notify;
    this.witness = d.witness;
    this.challenges = new Challenges(d.clock, d.nonce);
    this.history = new History(d.config.historySize);
    this.outbox = new Outbox(d.transport, d.config.maxDatagramBytes, d.config.sendQueueMaxBytes, () => this.commit(), d.schedule);
    // A say retried after more than a few histories' worth of traffic is too
    // old to matter; bounding by history keeps each room's cache a few MB.
    this.says = new ReplayCache(d.clock, d.config.idempotenceWindowMs, Math.min(d.config.idempotenceMaxEntries, 4 * d.config.historySize));
    this.leaves = new ReplayCache(d.clock, d.config.idempotenceWindowMs, d.config.idempotenceMaxEntries);
  }

  /**
   * Restores a previous incarnation (protocol: seq continues across
   * restarts): history, seq and say dedupe from the journal; members from
   * the supervisor; recent room-endpoint leaves for replay.
   *
   * `seqFloor` is the highest seq the supervisor learnt this room may have
   * handed out. A journal that ends below it lost events (deleted, cut,
   * torn, or a machine crash between fsyncs): the room continues above the
   * floor, never below (protocol "Durability"), and the lost range answers
   * `fetch` with `gap`.
   *
   * The journal and the supervisor's roster are reconciled: a member the
   * journal shows as gone is dropped (and the supervisor told), and a member
   * the journal shows present but the supervisor removed while the room was
   * down gets its `presence leave` now. Those events are journaled, not
   * pushed: the port is not bound yet, and members learn of them from their
   * next hb.
   */
  restore(
    restored: Pick<Restored, 'events'> & Partial<Restored>,
    members: readonly MemberRecord[],
    leaves: readonly LeaveRecord[] = [],
    seqFloor = 0,
    /** The members come from another node (cluster failover): see Member.resumed. */
    resumed = false,
  ): RestoreReport {
    const now = this.clock.now();
    const present = new Map<string, string>(); // member -> nick, as the journal last saw it
    const gone = new Set<string>();
    for (const { seq, encoded, value: e } of restored.events) {
      this.history.push(seq, encoded);
      this.seq = seq;
      // Every say still held is deduped (its ts is wall time, no measure of age).
      if (e.type === 'msg') this.says.set(sayKey(e.member, e.id), encoded);
      else if (e.event === 'join') {
        present.set(e.member, e.nick);
        gone.delete(e.member);
      } else {
        present.delete(e.member);
        gone.add(e.member);
      }
    }
    const journalSeq = this.seq;
    if (seqFloor > this.seq) {
      this.history.skipTo(seqFloor);
      this.seq = seqFloor;
    }
    this.stagedSeq = this.seq;
    const report: RestoreReport = {
      journalSeq,
      seqFloor,
      seq: this.seq,
      events: restored.events.length,
      skipped: restored.skipped ?? 0,
      reordered: restored.reordered ?? 0,
      tornBytes: restored.tornBytes ?? 0,
      missing: restored.missing ?? false,
      lost: this.seq - journalSeq,
    };
    for (const r of members) {
      if (gone.has(r.member)) {
        this.notifySupervisor({ type: 'departed', member: r.member });
        continue;
      }
      const m = new Member(resumed ? { ...r, proven: false } : r, now);
      m.heartbeatMs = this.config.heartbeatMs;
      m.resumed = resumed;
      this.roster.add(m);
    }
    for (const [member, nick] of present) {
      if (this.roster.get(member)) continue;
      this.stage({ type: 'presence', room: this.name, seq: 0, event: 'leave', member, nick });
    }
    // Stored, not pushed: the port is not bound yet; members learn of them from hb.
    this.commit(false);
    const horizon = now - this.config.idempotenceWindowMs;
    for (const l of leaves) {
      if (l.at > horizon) this.leaves.set(leaveKey(l.tokenHash, endpointKey(l), l.id), encode({ type: 'left', id: l.id, room: this.name }));
    }
    this.startSweep();
    return report;
  }

  // ---- membership, driven by the supervisor over IPC -----------------------

  /** Adds a member; resolves once its join is stored (at once with a file journal, after a round trip to JetStream in cluster mode). */
  async addMemberStored(r: MemberRecord): Promise<Added> {
    return this.replicated ? this.addReplicated(r) : this.addMember(r);
  }

  /** With a file journal: the member is in (its join written) when this returns. */
  addMember(r: MemberRecord): Added {
    if (this.replicated) throw new Error('addMember: a room with a replicated journal adds members with addMemberStored');
    this.checkNewMember(r);
    const m = new Member({ ...r, proven: false }, this.clock.now());
    m.heartbeatMs = this.config.heartbeatMs;
    // The join is stored before the member is in: a join the journal cannot
    // hold is refused, not half made.
    const seq = this.stage(presence(this.name, 0, 'join', m));
    const fault = this.commit();
    if (fault) throw new ChatError(fault.code, fault.message);
    this.roster.add(m);
    this.counters.joins++;
    return { seq, members: this.roster.size };
  }

  private checkNewMember(r: MemberRecord): void {
    if (this.status !== 'running') throw new ChatError('ROOM_UNAVAILABLE');
    if (this.roster.get(r.member) || this.roster.byTokenHash(r.tokenHash) || this.roster.atEndpoint(endpointKey(r))) {
      throw new ChatError('ALREADY_JOINED');
    }
  }

  private async addReplicated(r: MemberRecord): Promise<Added> {
    this.checkNewMember(r);
    const m = new Member({ ...r, proven: false }, this.clock.now());
    m.heartbeatMs = this.config.heartbeatMs;
    // Who the member is goes with its join: a node that takes the room over learns it from there.
    this.stageRecord(memberLine(r));
    const seq = this.stage(presence(this.name, 0, 'join', m));
    await this.handOff(true);
    if (this.status !== 'running') throw new ChatError('ROOM_UNAVAILABLE');
    m.lastSeen = this.clock.now();
    this.roster.add(m);
    this.counters.joins++;
    return { seq, members: this.roster.size };
  }

  /** ifUnproven: only if it has not proven its address (a join replacing it); else it stays and `proven` says why. */
  removeMember(memberId: string, ifUnproven = false): { seq?: number; members: number; proven?: boolean } {
    const m = this.roster.get(memberId);
    if (!m) return { members: this.roster.size };
    if (ifUnproven && m.proven) return { members: this.roster.size, proven: true };
    this.removeFromRoster(m);
    this.counters.leaves++;
    const seq = this.stage(presence(this.name, 0, 'leave', m));
    // A leave the journal cannot take now is owed: no seq to report yet.
    const failed = this.commit() !== undefined;
    return failed ? { members: this.roster.size } : { seq, members: this.roster.size };
  }

  /** Leave through the room endpoint: the room applies it and tells the supervisor. */
  leave(m: Member, reqId: string): void {
    this.removeFromRoster(m);
    this.counters.leaves++;
    const staged = this.stage(presence(this.name, 0, 'leave', m));
    const failed = this.commit() !== undefined;
    const seq = failed ? this.seq : staged;
    const reply = encode({ type: 'left', id: reqId, room: this.name });
    this.leaves.set(leaveKey(m.tokenHash, m.endpoint, reqId), reply);
    this.outbox.pushReply(m, reply);
    this.notifySupervisor({ type: 'left', member: m.member, seq: Math.max(1, seq), reqId, members: this.roster.size });
  }

  /**
   * Evicts members silent for heartbeatMs x heartbeatMisses (protocol
   * "Heartbeats"), and members that have not proven their address within
   * unprovenTimeoutMs of joining (or of a restart): a client sends hb right
   * after `joined`, so such a membership was abandoned or forged.
   */
  evictExpired(): void {
    const now = this.clock.now();
    const c = this.config;
    const evicted: Array<{ m: Member; seq: number }> = [];
    for (const m of [...this.roster]) {
      // Held to the heartbeat its `joined` announced if that was longer: a reload that lowered it must not evict clients still keeping the old pace.
      const deadline = now - Math.max(c.heartbeatMs, m.heartbeatMs) * c.heartbeatMisses;
      const unprovenDeadline = Math.max(deadline, now - c.unprovenTimeoutMs);
      if (m.lastSeen > (m.proven || m.resumed ? deadline : unprovenDeadline)) continue;
      this.removeFromRoster(m);
      evicted.push({ m, seq: this.stage(presence(this.name, 0, 'evict', m)) });
    }
    if (evicted.length === 0) return;
    this.counters.evictions += evicted.length;
    const failed = this.commit() !== undefined;
    for (const { m, seq } of evicted) {
      this.notifySupervisor({
        type: 'evicted',
        member: m.member,
        seq: failed ? Math.max(1, this.seq) : seq,
        members: this.roster.size,
        silentMs: now - m.lastSeen,
        proven: m.proven,
      });
    }
  }

  // ---- sequencing ---------------------------------------------------------------

  /**
   * Sequences an event: it takes the next seq and is staged until the turn's
   * journal write (the Outbox runs commit() before it sends anything), and
   * only then enters history and goes out. A say over maxBytes is refused
   * before it takes a seq, so a refusal leaves no hole. Returns the seq.
   */
  sequence(event: SequencedEvent, say?: SayOrigin, maxBytes = Number.POSITIVE_INFINITY): number {
    if (this.replicated && say && this.replicated.pendingLines >= MAX_UNSTORED_LINES) {
      throw new ChatError('ROOM_UNAVAILABLE', 'the room cannot store messages now: its journal is not answering');
    }
    this.restageOwed();
    return this.stage(event, say, maxBytes);
  }

  /** A say sequenced this turn but not yet written, for a retry that arrives in the same turn. */
  stagedSay(key: string): Buffer | undefined {
    return this.stagedSays.get(key) ?? this.unstoredSays.get(key);
  }

  private stage(event: SequencedEvent, say?: SayOrigin, maxBytes = Number.POSITIVE_INFINITY): number {
    event.seq = this.stagedSeq + 1;
    const encoded = encode(event);
    if (encoded.length > maxBytes) throw new ChatError('TOO_LARGE', `the message would exceed ${maxBytes} bytes`);
    this.stagedSeq = event.seq;
    this.staged.push(say ? { event, encoded, say } : { event, encoded });
    if (this.replicated) this.batchLines.push(encoded);
    if (say) this.stagedSays.set(say.key, encoded);
    this.outbox.requestFlush();
    return event.seq;
  }

  /**
   * Writes the staged events to the journal and lets them go out; on any
   * failure nothing of them leaves, their seqs are taken back (they were
   * never handed out), each say is answered ROOM_UNAVAILABLE and each leave
   * or evict is owed until writes work again (protocol "Durability").
   * The witness hears the new seq before the write: a report without a
   * write only makes a restart skip seqs, never reuse one. `push` false:
   * stored, not sent. Returns the fault if the write failed.
   */
  commit(push = true): ErrorInfo | undefined {
    if (this.replicated) {
      this.handOff(push)?.catch(() => {}); // a failure is handled in handOff
      return undefined;
    }
    if (this.staged.length === 0) return undefined;
    const staged = this.staged;
    this.staged = [];
    this.stagedSays.clear();
    try {
      this.witness?.report(this.stagedSeq);
      const t0 = performance.now();
      this.journal!.write(staged.map((s) => s.encoded));
      this.counters.journalWrite.observe(performance.now() - t0);
    } catch (err) {
      return this.rollBack(staged, err instanceof ChatError ? err.toInfo() : journalError(err).toInfo(), err);
    }
    for (const s of staged) {
      this.history.push(s.event.seq, s.encoded);
      if (push) this.broadcast(s.encoded);
      if (s.say) {
        this.says.set(s.say.key, s.encoded);
        this.counters.says++;
      }
    }
    this.seq = this.stagedSeq;
    if (this.storageFault) {
      this.log.info({ event: 'journal_write_recovered', seq: this.seq }, 'the journal takes writes again');
      this.storageFault = undefined;
    }
    this.compactIfDue();
    return undefined;
  }

  /**
   * Cluster mode's commit: the turn's lines go to the replicated journal,
   * and its events leave only once it has stored them (stored()); later
   * turns are sequenced meanwhile, above them. Resolves once stored;
   * rejects (after fenced() or nothing, when closing) if they never will be.
   */
  private handOff(push: boolean): Promise<void> | undefined {
    const journal = this.replicated!;
    if (this.batchLines.length === 0) return undefined;
    const staged = this.staged;
    const lines = this.batchLines;
    const lastSeq = this.stagedSeq;
    this.staged = [];
    this.batchLines = [];
    for (const [k, v] of this.stagedSays) this.unstoredSays.set(k, v);
    this.stagedSays.clear();
    this.linesSinceSnapshot += lines.length;
    const t0 = performance.now();
    return journal.append(lines).then(
      () => {
        this.counters.journalWrite.observe(performance.now() - t0);
        this.stored(staged, lastSeq, push);
      },
      (err: unknown) => {
        for (const s of staged) if (s.say) this.unstoredSays.delete(s.say.key);
        if (err instanceof JournalFenced) this.fenced();
        throw err;
      },
    );
  }

  /** A replicated batch is stored: its events enter history and go out, in seq order (batches complete in order). */
  private stored(staged: Staged[], lastSeq: number, push: boolean): void {
    if (this.status === 'stopped') return;
    for (const s of staged) {
      this.history.push(s.event.seq, s.encoded);
      if (push) this.broadcast(s.encoded);
      if (s.say) {
        this.says.set(s.say.key, s.encoded);
        this.unstoredSays.delete(s.say.key);
        this.counters.says++;
      }
    }
    this.seq = Math.max(this.seq, lastSeq);
    this.outbox.requestFlush();
    if (this.linesSinceSnapshot >= 2 * this.config.historySize && !this.snapshotting) {
      this.snapshotting = true;
      // After this turn's promise callbacks: a member whose join was in this batch is in the roster by then.
      setImmediate(() => this.snapshot());
    }
  }

  /**
   * Cluster mode's compaction (rooms/stream-snapshot.ts): the room's state
   * as of the last stored batch goes to the journal, and once it is stored
   * whole, what it covers is purged.
   */
  private snapshot(): void {
    const journal = this.replicated!;
    if (this.status !== 'running') return;
    const upTo = journal.lastSeq;
    const chunks = snapshotChunks(`${this.seq}-${upTo}`, this.seq, upTo, [...this.roster].map((m) => m.record()), this.history.held());
    this.linesSinceSnapshot = 0;
    const lines = chunks.reduce((n, c) => n + c.length, 0);
    Promise.all(chunks.map((c) => journal.append(c)))
      .then(() => journal.compact(upTo))
      .then(
        () => this.log.info({ event: 'journal_compacted', upTo, seq: this.seq, lines }, 'journal compacted: a snapshot covers what came before'),
        (err: unknown) => this.limitedLog.warn('journal_compaction_failed', { reason: (err as Error).message }, 'journal compaction failed; will retry'),
      )
      .finally(() => {
        this.snapshotting = false;
      });
  }

  /**
   * Another node (or a newer incarnation) has claimed the room: this one
   * must not answer for it any more (protocol "Several nodes": at most one
   * node sequences a room). Nothing unstored leaves; members find the room
   * where it is now with `where`.
   */
  private fenced(): void {
    if (this.status === 'stopped') return;
    this.status = 'stopped';
    if (this.sweepTimer) this.clock.clearTimeout(this.sweepTimer);
    if (this.owedTimer) this.clock.clearTimeout(this.owedTimer);
    this.log.warn({ event: 'room_fenced', seq: this.seq }, 'another node holds this room now; this process stops serving it');
    this.notifySupervisor({ type: 'fenced', seq: this.seq });
  }

  /** Cluster mode: a membership record goes to the journal with this turn's events, in order. */
  private stageRecord(line: Buffer): void {
    if (!this.replicated) return;
    this.batchLines.push(line);
    this.outbox.requestFlush();
  }

  private rollBack(staged: Staged[], fault: ErrorInfo, err: unknown): ErrorInfo {
    this.stagedSeq = this.seq;
    this.counters.journalWriteErrors++;
    if (!this.storageFault) {
      this.log.warn({ event: 'journal_write_failed', errno: (err as { errno?: string }).errno, reason: fault.message, seq: this.seq }, 'room refuses new events: it cannot store them');
    } else {
      this.limitedLog.warn('journal_write_failed', { reason: fault.message, seq: this.seq }, 'room still cannot store events');
    }
    this.storageFault = fault;
    const owed: PresenceEvent[] = [];
    for (const s of staged) {
      if (s.say) {
        if (this.roster.get(s.say.sender.member) === s.say.sender) this.replyError(s.say.sender, fault, (s.event as MsgEvent).id);
      } else if (s.event.type === 'presence' && s.event.event !== 'join') owed.push(s.event);
    }
    if (owed.length > 0) {
      this.owed.push(...owed);
      this.armOwedRetry();
    }
    return fault;
  }

  /** Leave and evict events owed since a failed write go first, in their order. */
  private restageOwed(): void {
    if (this.owed.length === 0) return;
    const owed = this.owed;
    this.owed = [];
    for (const e of owed) this.stage(e);
  }

  private armOwedRetry(): void {
    if (this.owedTimer || this.status !== 'running') return;
    this.owedTimer = this.clock.setTimeout(() => {
      this.owedTimer = undefined;
      if (this.status !== 'running' || this.owed.length === 0) return;
      this.restageOwed();
      this.commit();
      if (this.owed.length > 0) this.armOwedRetry();
    }, OWED_RETRY_MS);
    this.owedTimer.unref?.();
  }

  private compactIfDue(): void {
    if (!this.journal?.needsCompaction) return;
    try {
      this.journal.compact(this.history.held());
    } catch (err) {
      // The journal itself is intact: only its size grows until a later try works.
      this.limitedLog.warn('journal_compaction_failed', { reason: journalError(err).message }, 'journal compaction failed; will retry');
    }
  }

  /** Room traffic goes only to members that proved their address (protocol "Anti-amplification"). */
  broadcast(encoded: Buffer): void {
    this.outbox.share(encoded);
    for (const m of this.roster) if (m.proven && !m.detached) this.outbox.pushShared(m);
  }

  private removeFromRoster(m: Member): void {
    this.roster.remove(m);
    this.outbox.detach(m);
  }

  // ---- datagrams ----------------------------------------------------------------

  /** `via`: which of the room's sockets (one per local address) it arrived at; replies leave from the same one. */
  handleDatagram(buf: Buffer, from: Endpoint, via = 0): void {
    this.counters.datagramsIn++;
    this.counters.bytesIn += buf.length;
    if (this.status !== 'running') return;
    // Port 0 cannot be answered (a forged source): drop before any work.
    if (from.port === 0) {
      this.counters.dropped['port-zero']++;
      return;
    }
    const key = endpointKey(from);
    const at = this.roster.atEndpoint(key);
    const budget = new ReplyBudget(buf.length, at?.proven === true && !at.detached);
    const decoded = decodeDatagram(buf, this.config.maxDatagramBytes);
    if (!decoded.ok) return this.reject(from, via, budget, decoded.error, undefined, 'undecodable');
    const v = decoded.value;
    const reqId = echoableId(v['id']);
    const token = v['token'];
    if (typeof token !== 'string') return this.reject(from, via, budget, errorInfo('BAD_REQUEST', 'missing string field "token"'), reqId, 'no-token');
    // Authenticate by endpoint, then compare the token in constant time.
    let m = at && !at.detached && at.holds(token) ? at : undefined;
    if (!m) {
      const hash = hashToken(token);
      if (v['type'] === 'leave' && reqId !== undefined) {
        const replay = this.leaves.get(leaveKey(hash, key, reqId));
        if (replay) return this.sendDirect(replay, from, via, budget);
      }
      const owner = this.roster.byTokenHash(hash);
      if (!owner) return this.reject(from, via, budget, errorInfo('NOT_MEMBER'), reqId, 'not-member');
      m = this.answersChallenge(owner, v, from, key);
      if (!m) return this.challenge(owner, from, key, via, budget, reqId);
    }
    // A valid token from its own endpoint: a sign of life and proof of address.
    m.lastSeen = this.clock.now();
    m.via = via;
    if (!m.proven) {
      m.proven = true;
      this.notifySupervisor({ type: 'proven', member: m.member });
    }
    const parsed = RoomRequest.parse(v);
    if (!parsed.ok) return this.replyError(m, errorInfo(parsed.code, parsed.message), reqId);
    const req = parsed.value;
    const command = commandOf(req.type);
    if (!this.admit(m, command.bucket, reqId)) return;
    try {
      command.run(this, m, req);
    } catch (err) {
      if (err instanceof ChatError) return this.replyError(m, err.toInfo(), reqId);
      // A bug must not let one datagram kill the room (and crash-loop it into
      // being given up): log it, answer INTERNAL, keep serving.
      this.log.error({ event: 'handler_failed', type: req.type, member: m.member, err }, 'room handler failed');
      this.replyError(m, errorInfo('INTERNAL'), reqId);
    }
  }

  // ---- address changes (protocol "Address changes") -----------------------------

  /**
   * A member's token from another endpoint is not acted on: that endpoint
   * gets a challenge (within the reply budget, else NOT_MEMBER if that
   * fits), and the member moves there only when it answers (challenges.ts).
   */
  private challenge(owner: Member, from: Endpoint, key: string, via: number, budget: ReplyBudget, reqId: string | undefined): void {
    const nonce = this.challenges.issue(owner, key);
    if (nonce === undefined) return;
    const encoded = encode({ type: 'challenge', room: this.name, nonce });
    if (budget.take(encoded.length)) {
      this.limitedLog.debug('challenge_sent', { member: owner.member, from: key }, 'token from a new endpoint: challenged');
      return this.sendTo(encoded, from, via);
    }
    const refusal = fitError(budget, errorInfo('NOT_MEMBER'), reqId);
    if (refusal) this.sendTo(refusal, from, via);
  }

  /** The member, moved to `from`, if this is its answer to the challenge sent there; else undefined. */
  private answersChallenge(owner: Member, v: Record<string, unknown>, from: Endpoint, key: string): Member | undefined {
    if (!this.challenges.answered(owner, v, key)) return undefined;
    const was = owner.endpoint;
    const displaced = this.roster.move(owner, from);
    this.notifySupervisor({ type: 'moved', member: owner.member, address: from.address, port: from.port });
    this.stageRecord(movedLine(owner.member, from));
    this.limitedLog.info('member_moved', { member: owner.member, from: was, to: key, ...(displaced ? { displaced: displaced.member } : {}) }, 'membership moved to a new endpoint');
    return owner;
  }

  /**
   * Per-member rate limits (protocol precedence: after field errors), by the
   * command's bucket. A refused request is not remembered, so a `say`
   * retried with the same id later is evaluated afresh.
   */
  private admit(m: Member, bucket: RateBucket, reqId: string | undefined): boolean {
    if (bucket === null) return true;
    const now = this.clock.now();
    const c = this.config;
    const tokens =
      bucket === 'say'
        ? (m.says ??= new TokenBucket(c.sayRatePerSec, c.sayBurst, now))
        : (m.requests ??= new TokenBucket(c.requestRatePerSec, c.requestBurst, now));
    if (tokens.take(now)) return true;
    if (bucket === 'say') this.counters.rateLimitedSay++;
    else this.counters.rateLimitedRequest++;
    m.limitedReplies ??= new TokenBucket(LIMITED_REPLIES_PER_SEC, LIMITED_REPLIES_PER_SEC, now);
    if (m.limitedReplies.take(now)) this.replyError(m, errorInfo('RATE_LIMITED', `over ${bucket === 'say' ? c.sayRatePerSec : c.requestRatePerSec}/s`), reqId);
    return false;
  }

  /** Sends to a member through its queue, keeping order with events. */
  reply(m: Member, message: object): void {
    this.outbox.pushReply(m, encode(message));
  }

  resend(m: Member, encoded: Buffer): void {
    this.outbox.pushReply(m, encoded);
  }

  replyError(m: Member, e: ErrorInfo, reqId?: string): void {
    this.reply(m, errorEvent(e.code, e.message, reqId));
  }

  private reject(to: Endpoint, via: number, budget: ReplyBudget, e: ErrorInfo, reqId: string | undefined, reason: DropReason): void {
    this.counters.dropped[reason]++;
    this.limitedLog.debug('datagram_dropped', { reason, code: e.code, from: endpointKey(to) }, 'bad datagram');
    // Error replies to unproven sources are bounded per source address.
    if (budget.remaining !== Number.POSITIVE_INFINITY && !this.errorReplies.take(to.address)) return;
    const encoded = fitError(budget, e, reqId);
    if (encoded) this.sendTo(encoded, to, via);
  }

  /** Replies to endpoints that are not (proven) members: sent only within the reply budget. */
  private sendDirect(encoded: Buffer, to: Endpoint, via: number, budget: ReplyBudget): void {
    if (budget.take(encoded.length)) this.sendTo(encoded, to, via);
  }

  private sendTo(encoded: Buffer, to: Endpoint, via: number): void {
    const m = this.roster.atEndpoint(endpointKey(to));
    // Through the member's queue (in order with its events) only if it wrote from this socket's address too.
    if (m && !m.detached && m.via === via) this.outbox.pushReply(m, encoded);
    else {
      try {
        this.transport.send(encoded, to.port, to.address, via);
        this.counters.directDatagrams++;
        this.counters.directBytes += encoded.length;
      } catch {
        // an unanswerable address: nothing to do (errors are best effort)
        this.counters.dropped['send-failed']++;
      }
    }
  }

  // ---- life cycle ---------------------------------------------------------------

  /**
   * A config reload: the live keys (lib/config.ts RELOAD) take effect at
   * once, in what was built from them too. Members keep their token
   * buckets, with the new rate and burst (TokenBucket.retune: a lower limit
   * bites at once). Returns the keys that changed.
   */
  reconfigure(next: Config): string[] {
    const prev = this.config;
    const c = liveConfig(prev, next);
    const changed = (Object.keys(c) as Array<keyof Config>).filter((k) => !isDeepStrictEqual(prev[k], c[k]));
    if (changed.length === 0) return changed;
    this.config = c;
    const now = this.clock.now();
    for (const m of this.roster) {
      m.says?.retune(c.sayRatePerSec, c.sayBurst, now);
      m.requests?.retune(c.requestRatePerSec, c.requestBurst, now);
    }
    this.errorReplies.retune(c.errorReplyRatePerSec, c.errorReplyBurst);
    this.outbox.maxQueueBytes = c.sendQueueMaxBytes;
    this.log.level = c.logLevel;
    if ((prev.heartbeatMs !== c.heartbeatMs || prev.unprovenTimeoutMs !== c.unprovenTimeoutMs) && this.sweepTimer && this.status === 'running') {
      this.clock.clearTimeout(this.sweepTimer);
      this.startSweep();
    }
    return changed;
  }

  private startSweep(): void {
    // Sweeping every half interval keeps eviction within one heartbeatMs of
    // the deadline, as the protocol requires, at negligible cost; and an
    // unproven membership within half its own deadline of it.
    const every = Math.max(50, Math.floor(Math.min(this.config.heartbeatMs, this.config.unprovenTimeoutMs) / 2));
    const tick = () => {
      if (this.status !== 'running') return;
      this.evictExpired();
      this.sweepTimer = this.clock.setTimeout(tick, every);
      this.sweepTimer.unref?.();
    };
    this.sweepTimer = this.clock.setTimeout(tick, every);
    this.sweepTimer.unref?.();
  }

  /** Tells every proven member the room is gone and stops (protocol `closed`). */
  close(reason: string): void {
    if (this.status !== 'running') return;
    // What this turn sequenced goes out (or is refused) before `closed`.
    this.commit();
    this.status = 'stopping';
    if (this.sweepTimer) this.clock.clearTimeout(this.sweepTimer);
    if (this.owedTimer) this.clock.clearTimeout(this.owedTimer);
    // 'moved' (cluster mode): another node serves the room now; members must not hear it is gone.
    if (reason !== MOVED) this.broadcast(encode({ type: 'closed', room: this.name, reason }));
    this.outbox.flush();
    (this.journal ?? this.replicated)!.close();
    this.status = 'stopped';
  }
}

/** By the token's hash: the room keeps no raw tokens. */
function isReplicated(j: Journal | ReplicatedJournal): j is ReplicatedJournal {
  return 'append' in j;
}

function leaveKey(tokenHash: string, endpoint: string, id: string): string {
  return `${tokenHash}\u0000${endpoint}\u0000${id}`;
}

function presence(room: string, seq: number, event: PresenceEvent['event'], m: Member): PresenceEvent {
  return { type: 'presence', room, seq, event, member: m.member, nick: m.nick };
}
