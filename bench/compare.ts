// Scenario "compare": the fan-out ladder (fanout.ts), the same driver and
// member workers, run against chatd and three baselines in one run — the
// raw UDP relay without and with coalescing (relay-udp.ts) and a Socket.IO
// 4.8 room server (socketio-server.ts) — and a summary of each with chatd's
// figures as ratios of the baselines'.
import { sustained, type FanoutRow } from './fanout.js';
import { fmt, mb } from './table.js';
import { TARGET_LABELS, type TargetKind } from './targets.js';

/** The order the targets run in (per member count). */
export const COMPARE_TARGETS: TargetKind[] = ['chatd', 'relay-on', 'relay-off', 'socketio'];

/** The fixed load at which latencies are compared: 100,000 deliveries/s (1,000 msgs/s to 100 members). */
export const REF_DELIVERIES_PER_S = 100_000;

/**
 * ngircd's fan-out, deliveries/s, as quoted for it (not
 * measured here): what the 8 KB-datagram fan-out is set against.
 */
export const NGIRCD_DELIVERIES_PER_S = 2_000_000;

/** The stricter "max sustained" also needs p99 under this. */
export const P99_LIMIT_MS = 25;

/**
 * Offered msgs/s per room size. The rungs are closer where a baseline tops
 * out (Socket.IO and the relay without coalescing near 50,000–100,000
 * deliveries/s; chatd and the coalescing relay at several 100,000 on 2
 * cores), so "max sustained" is not only a matter of where the rungs are.
 */
export const COMPARE_LADDERS: Array<{ members: number; rates: number[] }> = [
  { members: 100, rates: [250, 500, 750, 1_000, 1_500, 2_000, 2_500, 3_000, 4_000, 5_000, 6_000, 8_000, 10_000, 12_000, 14_000, 16_000] },
  { members: 10, rates: [1_000, 2_500, 5_000, 7_500, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000] },
];

export const COMPARE_STEP_HEADERS = [
  'members',
  'target',
  'offered msg/s',
  'try',
  'sent msg/s',
  'deliveries/s',
  'loss %',
  'p50 ms',
  'p99 ms',
  'msgs/dgram',
  'server CPU %',
  'server CPU s/M',
  'server waiting %',
  'driver CPU %',
  'workers CPU %',
  'workers s/M',
  'other CPU %',
];

export function compareStepCells(r: FanoutRow, contendedPct: number): string[] {
  return [
    String(r.members),
    TARGET_LABELS[r.target],
    fmt(r.offered),
    String(r.attempt),
    fmt(r.sendRate),
    fmt(r.deliveriesPerS),
    fmt(r.lossPct, 2),
    fmt(r.p50Ms, 2),
    fmt(r.p99Ms, 2),
    fmt(r.eventsPerDatagram, 2),
    fmt(r.roomCpuPct),
    fmt(r.roomCpuSPerM, 2),
    fmt(r.roomWaitPct),
    fmt(r.senderCpuPct),
    fmt(r.membersCpuPct),
    fmt(r.membersCpuSPerM, 1),
    fmt(r.otherCpuPct) + (r.otherCpuPct > contendedPct ? ' *' : '  '),
  ];
}

export interface CompareSummary {
  target: TargetKind;
  members: number;
  /** The highest step that sustained its rate (see sustained(); undefined: none). */
  best: FanoutRow | undefined;
  /** The highest step that also had p99 <= P99_LIMIT_MS. */
  bestTight: FanoutRow | undefined;
  /** The step at REF_DELIVERIES_PER_S / members msgs/s. */
  ref: FanoutRow | undefined;
  /** The step with the most deliveries/s: the server at its busiest, batching the most. */
  busiest: FanoutRow | undefined;
  /** Deliveries/s offered at the lowest step run (for a lower bound when no step was sustained). */
  lowestOffered: number | undefined;
  /** Peak RSS of the server process over the ladder. */
  peakRssBytes: number;
  /** RSS of the server process after the reference step. */
  refRssBytes: number;
}

export function summarize(target: TargetKind, members: number, rows: FanoutRow[]): CompareSummary {
  const mine = rows.filter((r) => r.target === target && r.members === members);
  const ok = mine.filter(sustained);
  const maxBy = (rs: FanoutRow[]) => rs.reduce<FanoutRow | undefined>((a, r) => (a === undefined || r.deliveriesPerS > a.deliveriesPerS ? r : a), undefined);
  // The reference step; if it was run twice, the attempt with less loss, then the lower p99.
  const ref = mine
    .filter((r) => r.offered * members === REF_DELIVERIES_PER_S)
    .reduce<FanoutRow | undefined>((a, r) => (a === undefined || r.lossPct < a.lossPct || (r.lossPct === a.lossPct && r.p99Ms < a.p99Ms) ? r : a), undefined);
  const peaks = mine.map((r) => r.serverPeakRssBytes).filter(Number.isFinite);
  return {
    target,
    members,
    best: maxBy(ok),
    bestTight: maxBy(ok.filter((r) => r.p99Ms <= P99_LIMIT_MS)),
    ref,
    busiest: maxBy(mine),
    lowestOffered: mine.length > 0 ? Math.min(...mine.map((r) => r.offered)) * members : undefined,
    peakRssBytes: peaks.length > 0 ? Math.max(...peaks) : NaN,
    refRssBytes: ref?.serverRssBytes ?? NaN,
  };
}

export const COMPARE_SUMMARY_HEADERS = [
  'members',
  'target',
  'max sustained deliv/s',
  `max sustained, p99<=${P99_LIMIT_MS}ms`,
  'p50 ms @100k/s',
  'p99 ms @100k/s',
  'loss % @100k/s',
  'CPU s/M @100k/s',
  'CPU s/M @max',
  'deliv/CPU-s @busiest',
  'RSS MB @100k/s',
  'peak RSS MB',
];

export function compareSummaryCells(s: CompareSummary): string[] {
  return [
    String(s.members),
    TARGET_LABELS[s.target],
    s.best ? fmt(s.best.deliveriesPerS) : 'none',
    s.bestTight ? fmt(s.bestTight.deliveriesPerS) : 'none',
    fmt(s.ref?.p50Ms, 2),
    fmt(s.ref?.p99Ms, 2),
    fmt(s.ref?.lossPct, 2),
    fmt(s.ref?.roomCpuSPerM, 2),
    fmt(s.best?.roomCpuSPerM, 2),
    fmt(perCpuSecond(s)),
    mb(s.refRssBytes),
    mb(s.peakRssBytes),
  ];
}

/**
 * Deliveries per CPU-second of the server at its busiest step: what one
 * core would deliver if the server had it to itself, batching as much as it
 * did there. Less sensitive to other load on the host than the ladder's max.
 */
export function perCpuSecond(s: CompareSummary): number {
  const m = s.busiest?.roomCpuSPerM;
  return m === undefined || !(m > 0) ? NaN : 1e6 / m;
}

export const COMPARE_RATIO_HEADERS = [
  'members',
  'chatd / baseline',
  'max deliv/s',
  `max deliv/s, p99<=${P99_LIMIT_MS}ms`,
  'p50 @100k/s',
  'p99 @100k/s',
  'CPU s/M @100k/s',
  'CPU s/M @max',
  'deliv/CPU-s @busiest',
  'peak RSS',
];

/** chatd's figure divided by the baseline's, e.g. "9.12x"; '-' if either is missing. */
function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b === 0) return '-';
  return `${fmt(a / b, 2)}x`;
}

/**
 * chatd's max over the baseline's; if the baseline sustained no step at
 * all, a lower bound: chatd's max over the lowest rung's offered deliveries.
 */
function throughputRatio(chatd: FanoutRow | undefined, base: FanoutRow | undefined, baseRows: CompareSummary): string {
  if (chatd && !base && baseRows.lowestOffered !== undefined) return `>${fmt(chatd.deliveriesPerS / baseRows.lowestOffered, 2)}x`;
  return ratio(chatd?.deliveriesPerS, base?.deliveriesPerS);
}

export function compareRatioCells(chatd: CompareSummary, base: CompareSummary): string[] {
  return [
    String(chatd.members),
    TARGET_LABELS[base.target],
    throughputRatio(chatd.best, base.best, base),
    throughputRatio(chatd.bestTight, base.bestTight, base),
    ratio(chatd.ref?.p50Ms, base.ref?.p50Ms),
    ratio(chatd.ref?.p99Ms, base.ref?.p99Ms),
    ratio(chatd.ref?.roomCpuSPerM, base.ref?.roomCpuSPerM),
    ratio(chatd.best?.roomCpuSPerM, base.best?.roomCpuSPerM),
    ratio(perCpuSecond(chatd), perCpuSecond(base)),
    ratio(chatd.peakRssBytes, base.peakRssBytes),
  ];
}

/**
 * One figure against its target, as printed under the tables: "what: 1.23x
 * (target >= 0.8x: met)", or "what: not measured". `bound` prefixes the
 * value: ">" for a lower bound, "<" for an upper bound; a bound on the wrong
 * side of the target leaves it undecided.
 */
export function targetLine(what: string, value: number | undefined, goal: number, atLeast: boolean, unit: string, bound = ''): string {
  if (value === undefined || !Number.isFinite(value)) return `${what}: not measured`;
  const met = atLeast ? value >= goal : value <= goal;
  // A lower bound decides "met" of an at-least target, an upper bound "NOT met" (and the reverse for at-most).
  const decided = bound === '' || bound === (met === atLeast ? '>' : '<');
  const verdict = !decided ? 'undecided' : met ? 'met' : 'NOT met';
  return `${what}: ${bound}${fmt(value, 3)}${unit} (target ${atLeast ? '>=' : '<='} ${fmt(goal, 1)}${unit}: ${verdict})`;
}

/**
 * One max sustained over another's (e.g. 20 rooms over 1, 4 senders over
 * 1), as a value for targetLine. If `a` sustained no step at all, an upper
 * bound: the deliveries offered at its lowest rung over b's max ("<"). A max
 * at the ladder's top rung (`topRate`) is only a lower bound of the real
 * one: over it, the ratio is an upper bound ("<"); of it, a lower bound
 * (">"); both at the top rung, the ratio holds up to the top of the ladder.
 */
export function maxRatio(
  a: CompareSummary | undefined,
  b: CompareSummary | undefined,
  pick: (s: CompareSummary) => FanoutRow | undefined,
  topRate?: number,
): { value: number | undefined; bound: string } {
  const x = a && pick(a);
  const y = b && pick(b);
  if (!y) return { value: undefined, bound: '' };
  if (!x) return { value: a?.lowestOffered === undefined ? undefined : a.lowestOffered / y.deliveriesPerS, bound: '<' };
  const xTop = x.offered === topRate;
  const yTop = y.offered === topRate;
  return { value: x.deliveriesPerS / y.deliveriesPerS, bound: xTop === yTop ? '' : xTop ? '>' : '<' };
}

/** The project's performance targets, checked on this run's figures (100 members). */
export function targetLines(sums: CompareSummary[]): string[] {
  const get = (t: TargetKind) => sums.find((s) => s.target === t && s.members === 100);
  const c = get('chatd');
  const sio = get('socketio');
  const relay = get('relay-on');
  if (!c) return [];
  const out: string[] = [];
  const check = (what: string, value: number | undefined, goal: number, atLeast: boolean, unit: string, bound = '') =>
    out.push(targetLine(what, value, goal, atLeast, unit, bound));
  const vs = (what: string, base: CompareSummary | undefined, goal: number) => {
    const a = c.best?.deliveriesPerS;
    if (base && a !== undefined && !base.best && base.lowestOffered !== undefined) {
      // The baseline sustained no step: chatd over the lowest rung is a lower bound.
      return check(`${what} (it sustained no step; lower bound)`, a / base.lowestOffered, goal, true, 'x', '>');
    }
    check(what, a === undefined || base?.best === undefined ? undefined : a / base.best.deliveriesPerS, goal, true, 'x');
  };
  // The offered rate of the highest sustained step (sustained: <= 1 % loss,
  // >= 95 % of it delivered, p99 <= 25 ms): deliveries/s as measured (first
  // send to last arrival) reads a little under it even with nothing lost.
  const offeredAt = (r: FanoutRow | undefined) => (r ? r.offered * r.members : undefined);
  check('100 members, chatd max sustained rate, p99 <= 25 ms (deliveries/s offered at its highest such step)', offeredAt(c.bestTight), 1_000_000, true, '');
  check('100 members, chatd max sustained rate, any p99', offeredAt(c.best), 1_000_000, true, '');
  check('100 members, chatd p99 ms at 100k deliveries/s', c.ref?.p99Ms, 1.5, false, ' ms');
  vs('100 members, max sustained deliveries/s, chatd / Socket.IO', sio, 8);
  vs('100 members, max sustained deliveries/s, chatd / coalescing relay', relay, 0.8);
  const cpuRatio = (base: CompareSummary | undefined) => (base ? perCpuSecond(c) / perCpuSecond(base) : undefined);
  check('100 members, deliveries per server CPU-second at the busiest step, chatd / Socket.IO (same targets, CPU-bound estimate)', cpuRatio(sio), 8, true, 'x');
  check('100 members, deliveries per server CPU-second at the busiest step, chatd / coalescing relay (CPU-bound estimate)', cpuRatio(relay), 0.8, true, 'x');
  check('100 members, room CPU s per million deliveries at 100k/s', c.ref?.roomCpuSPerM, 1, false, '');
  check('100 members, room CPU s per million deliveries at its max sustained step', c.best?.roomCpuSPerM, 1, false, '');
  check('100 members, room CPU s per million deliveries at its busiest step', c.busiest?.roomCpuSPerM, 1, false, '');
  return out;
}
