// Where does a room's held history begin? A client far behind would need one
// fetch per 256 seqs to walk a run the room no longer holds (a million seqs:
// ~3,900 round trips); this finds the run's end in a number of probe fetches
// logarithmic in its length instead. RoomSession drives it and owns the wire.
//
// Contract:
// - The search covers [start, top]. It assumes that in this range the room
//   holds a suffix of what it sequenced: a probe window answered wholly as
//   `gap` is taken to mean that nothing below it is held either. Holes in
//   the held part (a damaged journal) break that assumption only where a
//   hole is wider than a window and a probe lands in it; the session keeps
//   the search below the last SEARCH_TAIL seqs, which it scans window by
//   window whatever they hold, so holes there are always walked.
// - A window is "held" when some seq in it is not covered by a `gap` (its
//   event may still be on the way, or lost: the later scan fetches it).
// - Probes gallop up from `start`, each about twice as far from it as the
//   last, so held events just above the client (an old history kept below a
//   restarted room's new sequence) are found early; past `top` the last
//   probe is the window ending at `top`. The first held window ends the
//   gallop, and a binary search narrows the bracket between it and the last
//   gap window to one window.
// - Done when at most one window separates `lo` (everything in [start, lo)
//   is taken as no longer held) from `hi` (the lowest seq known held, or
//   top + 1); the session scans on from `lo`. At most MAX_PROBES probes.
import { MAX_FETCH } from '../lib/wire.js';

export { MAX_FETCH };
/** Seqs below the room's latest that are scanned window by window, never searched: 16 fetches. */
export const SEARCH_TAIL = 16 * MAX_FETCH;
/** Gallop plus binary search over 2^53 seqs stays below this; a bound on a misbehaving room. */
const MAX_PROBES = 100;

export interface Window {
  from: number;
  to: number;
}

export class GapSearch {
  /** Every seq in [start, lo) is taken as no longer held. */
  lo: number;
  /** The lowest seq known to be held, or top + 1 while none is known. */
  hi: number;
  /** The next galloping probe ends this far above `lo`; 0 once bisecting. */
  private reach = 2 * MAX_FETCH;
  private probes = 0;

  constructor(
    readonly start: number,
    readonly top: number,
  ) {
    this.lo = start;
    this.hi = top + 1;
  }

  /** The next window to fetch, or undefined when the search is over. */
  next(): Window | undefined {
    if (this.hi - this.lo <= MAX_FETCH || this.probes >= MAX_PROBES) return undefined;
    let from: number;
    if (this.reach > 0) from = Math.max(this.lo, Math.min(this.lo + this.reach, this.hi) - MAX_FETCH);
    else from = this.lo + Math.floor((this.hi - this.lo - MAX_FETCH) / 2);
    return { from, to: from + MAX_FETCH - 1 };
  }

  /**
   * The room answered window w: `firstHeld` is its lowest seq not covered by
   * a `gap`, or undefined when the whole window came back as gap.
   */
  answered(w: Window, firstHeld: number | undefined): void {
    this.probes++;
    if (firstHeld === undefined) {
      this.lo = Math.max(this.lo, w.to + 1);
      if (this.reach > 0) this.reach *= 2;
      return;
    }
    this.hi = Math.min(this.hi, firstHeld);
    this.reach = 0;
  }
}
