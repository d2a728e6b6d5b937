// The room's bounded history of sequenced events for `fetch`: a ring buffer
// of the encoded events, indexed by seq (seqs have no holes).
export class History {
  private readonly ring: Array<Buffer | undefined>;
  private first = 1; // oldest seq held
  private last = 0; // latest seq held (0: none yet)

  constructor(private readonly capacity: number) {
    this.ring = new Array<Buffer | undefined>(capacity);
  }

  /** Appends the event with the next seq; seqs must arrive in order. */
  push(seq: number, encoded: Buffer): void {
    if (this.last === 0 || seq !== this.last + 1) {
      // first event, or a restore that starts past a hole: restart the window
      this.first = seq;
    } else if (seq - this.first >= this.capacity) {
      this.ring[this.first % this.capacity] = undefined;
      this.first++;
    }
    this.last = seq;
    this.ring[seq % this.capacity] = encoded;
  }

  get(seq: number): Buffer | undefined {
    return seq >= this.first && seq <= this.last ? this.ring[seq % this.capacity] : undefined;
  }

  /** Oldest seq held, or latest+1 when empty. */
  get oldest(): number {
    return this.last === 0 ? 1 : this.first;
  }

  get latest(): number {
    return this.last;
  }

  get size(): number {
    return this.last === 0 ? 0 : this.last - this.first + 1;
  }
}
