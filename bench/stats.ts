// Percentiles: exact ones for small sample sets (join and recovery times),
// and a log-bucket histogram for delivery latencies (hundreds of thousands
// of samples, merged across worker processes).

/** Nearest-rank percentile (p in 0..100) of unsorted samples; NaN when empty. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.max(1, Math.ceil((p / 100) * sorted.length));
  return sorted[Math.min(rank, sorted.length) - 1]!;
}

export function median(samples: readonly number[]): number {
  return percentile(samples, 50);
}

/** Bucket i holds values in [GROWTH^i, GROWTH^(i+1)): 2 % relative resolution. */
const GROWTH = 1.02;
const LOG_GROWTH = Math.log(GROWTH);
const BUCKETS = 1_000; // 1.02^1000 µs ≈ 400 s: anything slower lands in the last bucket

export type HistogramData = Array<[bucket: number, count: number]>;

export class LogHistogram {
  private readonly counts = new Float64Array(BUCKETS);
  total = 0;

  record(value: number): void {
    const i = value < 1 ? 0 : Math.min(BUCKETS - 1, Math.floor(Math.log(value) / LOG_GROWTH));
    this.counts[i]!++;
    this.total++;
  }

  /** Sparse form, small enough to send over IPC. */
  toData(): HistogramData {
    const out: HistogramData = [];
    for (let i = 0; i < BUCKETS; i++) if (this.counts[i]! > 0) out.push([i, this.counts[i]!]);
    return out;
  }

  merge(data: HistogramData): void {
    for (const [i, n] of data) {
      this.counts[i]! += n;
      this.total += n;
    }
  }

  /** The p-th percentile (0..100), as the geometric middle of its bucket; NaN when empty. */
  percentile(p: number): number {
    if (this.total === 0) return NaN;
    const rank = Math.max(1, Math.ceil((p / 100) * this.total));
    let seen = 0;
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!;
      if (seen >= rank) return Math.pow(GROWTH, i + 0.5);
    }
    return Math.pow(GROWTH, BUCKETS);
  }
}
