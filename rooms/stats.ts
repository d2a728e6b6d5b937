// The room's counters, read every statsIntervalMs into a `stats` IPC
// message (lib/ipc.ts). Counting must cost nothing measurable on the
// per-datagram path, so every counter is a number field bumped in place:
// no allocation, no map lookup. The Outbox keeps the fan-out's own counts
// (deliveries, datagrams, bytes, queue drops) the same way.
import { DROP_REASONS, LATENCY_BOUNDS_MS, type DropReason, type LatencyCounts } from '../lib/room-stats.js';
import type { StatsMsg } from '../lib/ipc.js';
import type { Outbox } from './outbox.js';

export class LatencyHistogram {
  /** One per bound, and one for above the last. */
  private readonly counts: number[] = new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0);
  private sumUs = 0;

  observe(ms: number): void {
    let i = 0;
    while (i < LATENCY_BOUNDS_MS.length && ms > LATENCY_BOUNDS_MS[i]!) i++;
    this.counts[i]!++;
    this.sumUs += Math.round(ms * 1_000);
  }

  snapshot(): LatencyCounts {
    return { counts: [...this.counts], sumUs: this.sumUs };
  }
}

/** A fixed object per reason, so a count is a property bump on one shape. */
type DropCounts = Record<DropReason, number>;

export class RoomCounters {
  joins = 0;
  leaves = 0;
  evictions = 0;
  says = 0;
  datagramsIn = 0;
  bytesIn = 0;
  /** Replies sent outside the Outbox (errors and challenges to non-members). */
  directDatagrams = 0;
  directBytes = 0;
  readonly dropped: DropCounts = Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as DropCounts;
  rateLimitedSay = 0;
  rateLimitedRequest = 0;
  journalWriteErrors = 0;
  readonly journalWrite = new LatencyHistogram();
  readonly fsync = new LatencyHistogram();
}

/** What the room and its process look like now, for the supervisor. */
export interface StatsSource {
  readonly counters: RoomCounters;
  readonly outbox: Outbox;
  readonly seq: number;
  readonly roster: { readonly size: number };
}

/** The `stats` message; `queueBytes` is what the room's sockets still hold in their send queues. */
export function statsMessage(room: StatsSource, queueBytes: number): StatsMsg {
  const c = room.counters;
  const o = room.outbox;
  const cpu = process.cpuUsage();
  return {
    type: 'stats',
    members: room.roster.size,
    seq: room.seq,
    joins: c.joins,
    leaves: c.leaves,
    evictions: c.evictions,
    says: c.says,
    deliveries: o.deliveries,
    datagramsIn: c.datagramsIn,
    datagramsOut: o.datagrams + c.directDatagrams,
    bytesIn: c.bytesIn,
    bytesOut: o.bytes + c.directBytes,
    dropped: { ...c.dropped, 'queue-overflow': o.queueDropped, 'send-failed': c.dropped['send-failed'] + o.sendErrors },
    rateLimited: { say: c.rateLimitedSay, request: c.rateLimitedRequest },
    journalWriteErrors: c.journalWriteErrors,
    journalWrite: c.journalWrite.snapshot(),
    fsync: c.fsync.snapshot(),
    queueBytes,
    cpuUserUs: cpu.user,
    cpuSystemUs: cpu.system,
    rssBytes: process.memoryUsage.rss(),
  };
}

/** Bytes Node still queues for the socket (a full kernel buffer); 0 once it is closed. */
function queuedBytes(s: { getSendQueueSize(): number }): number {
  try {
    return s.getSendQueueSize();
  } catch {
    return 0;
  }
}

/**
 * Sends the room's stats every intervalMs until stopped; `stop` sends them
 * once more, so a room that closes reports its last counts. The first
 * report waits an interval: a room that just bound its port has a join
 * waiting, and nothing to report yet.
 */
export function reportStats(
  room: StatsSource,
  sockets: ReadonlyArray<{ getSendQueueSize(): number }>,
  intervalMs: number,
  send: (msg: StatsMsg) => void,
): { stop(): void } {
  const report = () => {
    let queued = 0;
    for (const s of sockets) queued += queuedBytes(s);
    send(statsMessage(room, queued));
  };
  const timer = setInterval(report, intervalMs);
  timer.unref();
  return {
    stop: () => {
      clearInterval(timer);
      report();
    },
  };
}
