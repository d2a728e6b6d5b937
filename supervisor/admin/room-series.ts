// The rooms as /metrics shows them: a series per room with a label of its
// own (the first metricsRoomLabels rooms to exist at a time keep theirs for
// life), and one `_other` series summing the rest, so a service with
// thousands of rooms has a bounded number of series. `_other` also keeps the
// counts of its rooms that are gone: it never goes down, which is what a
// Prometheus counter must do. A labelled room that is gone just stops
// having series (sum(rate(...)) over rooms is right either way).
import { addTotals, OTHER_ROOMS, zeroTotals, type RoomStatsBook, type Totals } from './room-stats.js';

export { OTHER_ROOMS };

export interface RoomSeries {
  /** The room's name, or `_other`. */
  room: string;
  totals: Totals;
  restarts: number;
  evictions: number;
  members: number;
  /** The room's latest seq (a labelled room that has reported); none for `_other`. */
  seq: number | undefined;
  queueBytes: number;
  rssBytes: number;
}

export function roomSeries(book: RoomStatsBook): RoomSeries[] {
  const out: RoomSeries[] = [];
  // live() first: it retires the rooms that are gone, into what retiredTotals returns.
  const live = book.live();
  const gone = book.retiredTotals(true);
  const other: RoomSeries = { room: OTHER_ROOMS, totals: zeroTotals(), restarts: gone.restarts, evictions: gone.evictions, members: 0, seq: undefined, queueBytes: 0, rssBytes: 0 };
  addTotals(other.totals, gone.totals);
  let others = 0;
  for (const rec of live) {
    const last = rec.last;
    const s: RoomSeries = {
      room: rec.name,
      totals: rec.totals(),
      restarts: rec.restarts,
      evictions: rec.evictions,
      members: rec.entry.members.size,
      seq: last?.seq,
      queueBytes: last?.queueBytes ?? 0,
      rssBytes: last?.rssBytes ?? 0,
    };
    if (rec.labelled) {
      out.push(s);
      continue;
    }
    others++;
    addTotals(other.totals, s.totals);
    other.restarts += s.restarts;
    other.evictions += s.evictions;
    other.members += s.members;
    other.queueBytes += s.queueBytes;
    other.rssBytes += s.rssBytes;
  }
  out.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
  if (others > 0 || hasCounts(other)) out.push(other);
  return out;
}

function hasCounts(s: RoomSeries): boolean {
  return s.restarts > 0 || s.evictions > 0 || s.totals.joins > 0 || s.totals.cpuUserUs > 0 || s.totals.datagramsIn > 0;
}
