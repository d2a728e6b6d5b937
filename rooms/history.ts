// The room's bounded history of sequenced events for `fetch`: a ring buffer
// of the encoded events, indexed by seq. Seqs arrive in increasing order; a
// seq skipped on the way (a restored journal that lost events) is a hole:
// it is not held, and `fetch` answers it as a gap.
export class History {
  private readonly ring: Array<Buffer | undefined>;
  private first = 1; // oldest seq of the window
  private last = 0; // latest seq pushed (0: none yet)

  constructor(private readonly capacity: number) {
    this.ring = new Array<Buffer | undefined>(capacity);
  }

  /** Appends the event with this seq, above every earlier one; skipped seqs become holes. */
  push(seq: number, encoded: Buffer): void {
    if (seq <= this.last) throw new Error(`history: seq ${seq} is not above ${this.last}`);
    if (this.last === 0) this.first = seq;
    // Slots of skipped seqs still hold events a capacity older: clear them.
    for (let s = Math.max(this.last + 1, seq - this.capacity + 1); s < seq; s++) this.ring[s % this.capacity] = undefined;
    this.last = seq;
    this.ring[seq % this.capacity] = encoded;
    if (seq - this.first >= this.capacity) this.first = seq - this.capacity + 1;
  }

  /** Marks everything up to seq as seen, without an event (the part of a restored room's range it no longer holds). */
  skipTo(seq: number): void {
    if (seq <= this.last) return;
    for (let s = Math.max(this.last + 1, seq - this.capacity + 1); s <= seq; s++) this.ring[s % this.capacity] = undefined;
    if (this.last === 0) this.first = seq + 1;
    this.last = seq;
    if (seq - this.first >= this.capacity) this.first = seq - this.capacity + 1;
  }

  get(seq: number): Buffer | undefined {
    return seq >= this.first && seq <= this.last ? this.ring[seq % this.capacity] : undefined;
  }

  /** Oldest seq of the window (it may be a hole), or latest+1 when empty. */
  get oldest(): number {
    return this.last === 0 ? 1 : this.first;
  }

  get latest(): number {
    return this.last;
  }

  /** The held events, oldest first (for compaction). */
  held(): Buffer[] {
    const out: Buffer[] = [];
    for (let s = this.oldest; s <= this.last; s++) {
      const e = this.ring[s % this.capacity];
      if (e) out.push(e);
    }
    return out;
  }
}
