// The supervisor's book of what its rooms report (IPC `stats`, every
// statsIntervalMs) and of what it decides about them (restarts, give-ups,
// evictions), for /metrics and /status. A room's counts are cumulative per
// process, so each incarnation's last report is added to the room's base
// when its process exits: a room's totals keep growing across restarts. What
// an incarnation counted after its last report and before a crash is lost
// (at most one interval's worth); evictions and restarts are counted here,
// from the notices and the decisions themselves, so they are exact.
import type { Clock } from '../../lib/clock.js';
import type { StatsMsg } from '../../lib/ipc.js';
import { DROP_REASONS, LATENCY_BOUNDS_MS, RATE_LIMITED_KINDS, type LatencyCounts } from '../../lib/room-stats.js';
import type { RecentEvent } from '../../lib/admin-status.js';
import type { RoomEntry } from '../room-entry.js';
import type { RoomHandle } from '../room-handle.js';
import { isAbnormal, type ExitInfo } from '../restart-policy.js';

/** The counts of a stats message that add up across incarnations. */
const SCALARS = ['joins', 'leaves', 'says', 'deliveries', 'datagramsIn', 'datagramsOut', 'bytesIn', 'bytesOut', 'journalWriteErrors', 'cpuUserUs', 'cpuSystemUs'] as const;
export type Totals = Pick<StatsMsg, (typeof SCALARS)[number] | 'dropped' | 'rateLimited' | 'journalWrite' | 'fsync'>;

/** The `room` label of the rooms beyond metricsRoomLabels (room-series.ts). */
export const OTHER_ROOMS = '_other';

/** Recent events kept for /status. */
export const RECENT_EVENTS = 50;
/** A room that has not reported for this many intervals has no rate (it is hung, or gone). */
const STALE_INTERVALS = 3;

export function zeroTotals(): Totals {
  const t = Object.fromEntries(SCALARS.map((k) => [k, 0])) as Pick<StatsMsg, (typeof SCALARS)[number]>;
  return {
    ...t,
    dropped: Object.fromEntries(DROP_REASONS.map((r) => [r, 0])) as Totals['dropped'],
    rateLimited: Object.fromEntries(RATE_LIMITED_KINDS.map((k) => [k, 0])) as Totals['rateLimited'],
    journalWrite: zeroLatency(),
    fsync: zeroLatency(),
  };
}

function zeroLatency(): LatencyCounts {
  return { counts: new Array<number>(LATENCY_BOUNDS_MS.length + 1).fill(0), sumUs: 0 };
}

/** Adds b's counts into a (sign -1: takes them out). */
export function addTotals(a: Totals, b: Totals, sign = 1): void {
  for (const k of SCALARS) a[k] += sign * b[k];
  for (const r of DROP_REASONS) a.dropped[r] += sign * b.dropped[r];
  for (const k of RATE_LIMITED_KINDS) a.rateLimited[k] += sign * b.rateLimited[k];
  addLatency(a.journalWrite, b.journalWrite, sign);
  addLatency(a.fsync, b.fsync, sign);
}

function addLatency(a: LatencyCounts, b: LatencyCounts, sign: number): void {
  for (let i = 0; i < a.counts.length; i++) a.counts[i]! += sign * (b.counts[i] ?? 0);
  a.sumUs += sign * b.sumUs;
}

/** One process of a room: its last report, and whether it has exited (its counts are then in the room's base). */
interface Incarnation {
  readonly pid: number | undefined;
  last: StatsMsg | undefined;
  ended: boolean;
}

/** One room's life as the book sees it (one per RoomEntry: a room deleted and created again is a new one). */
export class RoomRecord {
  /** What earlier incarnations counted (their last reports). */
  readonly base = zeroTotals();
  /** The process serving the room, and when it last reported (clock ms). */
  current: Incarnation | undefined;
  lastAt = 0;
  messagesPerSec = 0;
  deliveriesPerSec = 0;
  restarts = 0;
  evictions = 0;

  constructor(
    readonly entry: RoomEntry,
    /** Whether it has a `room` label of its own in /metrics (else it is counted in `_other`). */
    readonly labelled: boolean,
  ) {}

  get name(): string {
    return this.entry.name;
  }

  /** The current process's last report. */
  get last(): StatsMsg | undefined {
    return this.current?.last;
  }

  /** Base plus the current incarnation: what the room has done in its life. */
  totals(): Totals {
    const t = zeroTotals();
    addTotals(t, this.base);
    if (this.current?.last) addTotals(t, this.current.last);
    return t;
  }
}

export class RoomStatsBook {
  private readonly records = new Map<string, RoomRecord>();
  /** Rooms no longer in the registry, summed: what the service did beyond its live rooms. */
  private readonly retired = zeroTotals();
  /** Of those, the rooms that were counted in `_other`, so that `_other` never goes down. */
  private readonly retiredOther = zeroTotals();
  private retiredRestarts = 0;
  private retiredOtherRestarts = 0;
  private retiredEvictions = 0;
  private retiredOtherEvictions = 0;
  /** Rooms given up, by reason (crashed, stopped). */
  readonly giveUps = new Map<string, number>();
  private readonly recentEvents: RecentEvent[] = [];

  constructor(
    private readonly clock: Clock,
    private readonly o: {
      /** Rooms with a `room` label of their own (metricsRoomLabels). */
      readonly labels: () => number;
      readonly statsIntervalMs: () => number;
      /** Whether the entry is still the registry's room of its name. */
      readonly isCurrent: (entry: RoomEntry) => boolean;
    },
  ) {}

  /** A new incarnation of the room runs in proc: its reports, exit and evictions are the room's. */
  incarnation(entry: RoomEntry, proc: RoomHandle): void {
    const rec = this.recordOf(entry);
    const inc: Incarnation = { pid: proc.pid, last: undefined, ended: false };
    proc.on('stats', (m) => this.report(rec, inc, m));
    proc.on('notice', (m) => {
      if (m.type !== 'evicted') return;
      rec.evictions++;
      const why = m.proven ? `silent for ${m.silentMs} ms` : `never proved its address (${m.silentMs} ms)`;
      this.remember('member_evicted', entry.name, `member ${m.member} ${why}; ${m.members} left`);
    });
    proc.once('exit', () => {
      inc.ended = true;
      if (inc.last) addTotals(rec.base, inc.last);
      if (rec.current !== inc) return;
      rec.current = undefined;
      rec.messagesPerSec = 0;
      rec.deliveriesPerSec = 0;
    });
  }

  restarting(entry: RoomEntry, exit: ExitInfo, delayMs: number, inWindow: number): void {
    this.recordOf(entry).restarts++;
    this.remember('room_restarted', entry.name, `${describeExit(exit)}; restart ${inWindow} in the window, after ${delayMs} ms`);
  }

  gaveUp(entry: RoomEntry, exit: ExitInfo, reason: string): void {
    const kind = isAbnormal(exit) ? 'crashed' : 'stopped';
    this.giveUps.set(kind, (this.giveUps.get(kind) ?? 0) + 1);
    this.remember('room_gave_up', entry.name, `${describeExit(exit)}; given up: ${reason}`);
  }

  /**
   * The rooms of the registry (and rooms being deleted whose process has
   * not exited yet: its last report is still to come); rooms gone are
   * retired on the way.
   */
  live(): RoomRecord[] {
    this.sweep();
    return [...this.records.values()];
  }

  record(entry: RoomEntry): RoomRecord | undefined {
    const rec = this.records.get(entry.name);
    return rec?.entry === entry ? rec : undefined;
  }

  /** Rooms gone (and, with `other`, only those that were counted in `_other`). */
  retiredTotals(other: boolean): { totals: Totals; restarts: number; evictions: number } {
    return other
      ? { totals: this.retiredOther, restarts: this.retiredOtherRestarts, evictions: this.retiredOtherEvictions }
      : { totals: this.retired, restarts: this.retiredRestarts, evictions: this.retiredEvictions };
  }

  /** Newest first. */
  recent(): readonly RecentEvent[] {
    return this.recentEvents;
  }

  /** Messages and deliveries per second over the room's last stats interval; 0 once its reports stop. */
  rates(rec: RoomRecord): { messagesPerSec: number; deliveriesPerSec: number } {
    const stale = this.clock.now() - rec.lastAt > STALE_INTERVALS * this.o.statsIntervalMs();
    return stale || !rec.current ? { messagesPerSec: 0, deliveriesPerSec: 0 } : { messagesPerSec: rec.messagesPerSec, deliveriesPerSec: rec.deliveriesPerSec };
  }

  private report(rec: RoomRecord, inc: Incarnation, m: StatsMsg): void {
    if (inc.ended) {
      // Its last words, read after its exit: only what they add goes to the base.
      addTotals(rec.base, m);
      if (inc.last) addTotals(rec.base, inc.last, -1);
      inc.last = m;
      return;
    }
    const now = this.clock.now();
    if (rec.current === inc && inc.last && now > rec.lastAt) {
      const perSec = 1_000 / (now - rec.lastAt);
      rec.messagesPerSec = Math.max(0, m.says - inc.last.says) * perSec;
      rec.deliveriesPerSec = Math.max(0, m.deliveries - inc.last.deliveries) * perSec;
    }
    inc.last = m;
    rec.current = inc;
    rec.lastAt = now;
  }

  private recordOf(entry: RoomEntry): RoomRecord {
    const rec = this.records.get(entry.name);
    if (rec?.entry === entry) return rec;
    if (rec) this.retire(rec);
    this.sweep(); // a label freed by a room gone is free for this one
    let labelled = 0;
    for (const r of this.records.values()) if (r.labelled) labelled++;
    // A room named like the overflow series is counted in it: one series per label value.
    const fresh = new RoomRecord(entry, labelled < this.o.labels() && entry.name !== OTHER_ROOMS);
    this.records.set(entry.name, fresh);
    return fresh;
  }

  private sweep(): void {
    for (const rec of this.records.values()) if (!this.o.isCurrent(rec.entry) && !rec.current) this.retire(rec);
  }

  private retire(rec: RoomRecord): void {
    this.records.delete(rec.name);
    const t = rec.totals();
    addTotals(this.retired, t);
    this.retiredRestarts += rec.restarts;
    this.retiredEvictions += rec.evictions;
    if (rec.labelled) return;
    addTotals(this.retiredOther, t);
    this.retiredOtherRestarts += rec.restarts;
    this.retiredOtherEvictions += rec.evictions;
  }

  private remember(event: RecentEvent['event'], room: string, detail: string): void {
    this.recentEvents.unshift({ at: new Date(this.clock.wall()).toISOString(), event, room, detail });
    if (this.recentEvents.length > RECENT_EVENTS) this.recentEvents.length = RECENT_EVENTS;
  }
}

function describeExit(exit: ExitInfo): string {
  if (exit.spawnError) return `could not be forked (${exit.spawnError})`;
  if (exit.signal) return `its process was killed by ${exit.signal}`;
  return `its process exited with code ${exit.code}`;
}
