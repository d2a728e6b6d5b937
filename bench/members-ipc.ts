// Messages between the load driver and its member worker processes.
import type { HistogramData } from './stats.js';

export type ToWorker =
  | { type: 'join'; controlPort: number; room: string; nicks: string[]; addressBlock: number }
  | { type: 'report'; tag: string }
  | { type: 'quit' };

/** What a worker's members received of one tag's messages. */
export interface TagReport {
  tag: string;
  /** msg events received (deliveries), summed over the worker's members. */
  msgs: number;
  /** Datagrams that carried at least one of them. */
  datagrams: number;
  /** Arrival time (µs, monotonic) of the last delivery, 0 if none. */
  lastUs: number;
  /** Delivery latencies (µs): arrival minus the send time written in the text. */
  latency: HistogramData;
}

export type FromWorker =
  | { type: 'joined'; members: number }
  | ({ type: 'report' } & TagReport)
  | { type: 'error'; message: string };

/**
 * Bench message texts: "B|<tag>|<send time µs>|" padded with "x" to 100
 * characters, so the msg event is ~250 bytes, a typical chat line's.
 */
export const TEXT_CHARS = 100;

export function benchText(tag: string, sentUs: number): string {
  const head = `B|${tag}|${sentUs}|`;
  return head + 'x'.repeat(Math.max(0, TEXT_CHARS - head.length));
}

/** The tag and send time of a bench text, or undefined for other texts. */
export function parseBenchText(text: unknown): { tag: string; sentUs: number } | undefined {
  if (typeof text !== 'string' || !text.startsWith('B|')) return undefined;
  const a = text.indexOf('|', 2);
  const b = text.indexOf('|', a + 1);
  if (a < 0 || b < 0) return undefined;
  return { tag: text.slice(2, a), sentUs: Number(text.slice(a + 1, b)) };
}
