// Scenario "many": rooms of 10 members in one chatd — 1, 5 and 20 of them
// chatting at once, each with one sender, every room offered the same rate —
// and how the aggregate deliveries/s scale with the number of rooms. It is
// the fan-out driver (fanout.ts) with one session per room count, each
// session loading all its rooms at once; the sessions run one rate ladder
// interleaved (runLadder), so that other work on the host weighs on every
// room count alike, and the ratio of 20 rooms to 1 room compares like with
// like.
import type { Chatd } from '../test/helpers/chatd.js';
import { COMPARE_STEP_HEADERS, compareStepCells, maxRatio, P99_LIMIT_MS, summarize, targetLine, type CompareSummary } from './compare.js';
import { CONTENDED_PCT, KEPT_UP_SHARE, SUSTAINED_LOSS_PCT, FanoutSession, runLadder, type FanoutOptions, type FanoutRow } from './fanout.js';
import { fmt } from './table.js';
import { chatdTarget, type FanoutTarget } from './targets.js';

/** Rooms loaded at once, per session. */
export const MANY_ROOM_COUNTS = [1, 5, 20];
export const MANY_MEMBERS = 10;
/**
 * Offered msgs/s of all rooms together (each room gets rate / rooms; the
 * deliveries are 10× that): the same aggregate load for every room count,
 * with close rungs where one room of 10 tops out on 2 cores.
 */
export const MANY_RATES = [2_000, 5_000, 10_000, 15_000, 20_000, 25_000, 30_000, 40_000];
/** The target: 20 rooms deliver at least this share of what 1 room does. */
export const MANY_SCALING_TARGET = 0.9;

/**
 * Members' address blocks (see FanoutSession.open): 127.60.x.y on, after
 * the fan-out's (20, 21) and the join and memory scenarios' (30, 50); with 2
 * workers the 26 rooms take blocks 60-111. Room k's sender is
 * clientAddress(10, k): every room is created from an address of its own,
 * as chatd's per-address room creation limit (1/s, burst 10) expects of
 * real clients.
 */
const FIRST_BLOCK = 60;

/** Room names of one length for every count ("m20r07"), so that the events are the same size. */
const roomName = (rooms: number, k: number) => `m${String(rooms).padStart(2, '0')}r${String(k).padStart(2, '0')}`;

/**
 * Opens every room count's rooms (senders joined, member workers joined)
 * in `chatd`, runs the interleaved ladder, and closes everything.
 */
export async function runManyRooms(
  chatd: Chatd,
  o: Omit<FanoutOptions, 'members' | 'rates' | 'refRate'>,
  onRow: (r: FanoutRow) => void,
): Promise<FanoutRow[]> {
  const targets: FanoutTarget[] = [];
  const sessions: FanoutSession[] = [];
  try {
    for (const rooms of MANY_ROOM_COUNTS) {
      const mine: FanoutTarget[] = [];
      for (let k = 0; k < rooms; k++) {
        const t = await chatdTarget(chatd, roomName(rooms, k), 1, targets.length);
        targets.push(t);
        mine.push(t);
      }
      sessions.push(await FanoutSession.open(mine, MANY_MEMBERS, o.workers, sessions.at(-1)?.nextBlock ?? FIRST_BLOCK));
    }
    return await runLadder(sessions, { ...o, members: MANY_MEMBERS, rates: MANY_RATES }, onRow);
  } finally {
    for (const s of sessions) await s.close();
    for (const t of targets) await t.close();
  }
}

/** The comparison's step table (compare.ts), its server being the rooms and its target column the rate per room. */
export const MANY_STEP_HEADERS = ['rooms', 'per room msg/s', ...COMPARE_STEP_HEADERS.slice(2).map((h) => h.replace('server', 'rooms'))];

export function manyStepCells(r: FanoutRow): string[] {
  return [String(r.rooms), fmt(r.offered / r.rooms), ...compareStepCells(r, CONTENDED_PCT).slice(2)];
}

export const MANY_SUMMARY_HEADERS = [
  'rooms',
  'max sustained deliv/s',
  'offered msg/s',
  'per room',
  'p50 ms',
  'p99 ms',
  'rooms CPU s/M deliv',
  '/ 1 room',
  'max sustained, any p99',
  'any p99 / 1 room',
];

/** Per room count, compare.ts's summary of its steps (best: sustained; bestTight: and p99 <= P99_LIMIT_MS). */
function summaries(rows: FanoutRow[]): Map<number, CompareSummary> {
  return new Map(MANY_ROOM_COUNTS.map((n) => [n, summarize('chatd', MANY_MEMBERS, rows.filter((r) => r.rooms === n))]));
}

const TOP_RATE = MANY_RATES[MANY_RATES.length - 1]!;
const MOST_ROOMS = MANY_ROOM_COUNTS[MANY_ROOM_COUNTS.length - 1]!;

/** "149,906", "149,906 (top rung)" when the ladder did not find the limit, or "none". */
const maxCell = (b: FanoutRow | undefined) => (b ? fmt(b.deliveriesPerS) + (b.offered === TOP_RATE ? ' (top rung)' : '') : 'none');

export function manySummaryRows(rows: FanoutRow[]): string[][] {
  const sums = summaries(rows);
  const one = sums.get(1);
  const ratio = (s: CompareSummary, pick: (s: CompareSummary) => FanoutRow | undefined) => {
    const r = maxRatio(s, one, pick, TOP_RATE);
    return r.value === undefined ? '-' : `${r.bound}${fmt(r.value, 2)}x`;
  };
  return [...sums].map(([n, s]) => [
    String(n),
    maxCell(s.bestTight),
    fmt(s.bestTight?.offered),
    fmt(s.bestTight ? s.bestTight.offered / n : undefined),
    fmt(s.bestTight?.p50Ms, 2),
    fmt(s.bestTight?.p99Ms, 2),
    fmt(s.bestTight?.roomCpuSPerM, 2),
    ratio(s, (x) => x.bestTight),
    maxCell(s.best),
    ratio(s, (x) => x.best),
  ]);
}

export const MANY_SUMMARY_TITLE =
  `max sustained = the highest step with loss <= ${SUSTAINED_LOSS_PCT} %, deliveries at >= ${KEPT_UP_SHARE * 100} % of the offered rate ` +
  `and p99 <= ${P99_LIMIT_MS} ms ("any p99": without the latency bound); rooms CPU s/M deliv = CPU seconds of all the room processes ` +
  `per million deliveries, at that step; "<": sustained no step, so below the lowest rung`;

/** The target for the scaling, checked on this run's figures (with and without the latency bound). */
export function manyTargetLines(rows: FanoutRow[]): string[] {
  const sums = summaries(rows);
  const line = (what: string, pick: (s: CompareSummary) => FanoutRow | undefined) => {
    const r = maxRatio(sums.get(MOST_ROOMS), sums.get(1), pick, TOP_RATE);
    return targetLine(`${MOST_ROOMS} rooms / 1 room, ${what}`, r.value, MANY_SCALING_TARGET, true, 'x', r.bound);
  };
  const out = [
    line(`max sustained aggregate deliveries/s (p99 <= ${P99_LIMIT_MS} ms)`, (s) => s.bestTight),
    line('max sustained aggregate deliveries/s, any p99', (s) => s.best),
  ];
  if ([...sums.values()].some((s) => s.best?.offered === TOP_RATE)) {
    out.push('(top rung): the ladder ended without finding the limit of that room count: its max is a lower bound (">", "<": the ratio is a bound)');
  }
  return out;
}
