// Messages between the load driver and its member worker processes: Node
// IPC messages for the Node workers (members.ts), one JSON object per line
// on stdin/stdout for the native one (native/members.cc), which also
// implements scanBenchTexts and LogHistogram's buckets: change them together.
import type { HistogramData } from './stats.js';

/** What the members of a worker join: chatd, or a baseline of the comparison (bench/compare.ts). */
export type WorkerTarget =
  | { kind: 'chatd'; controlPort: number; room: string }
  | { kind: 'relay'; port: number }
  | { kind: 'socketio'; port: number; room: string };

export type ToWorker =
  | { type: 'join'; target: WorkerTarget; nicks: string[]; addressBlock: number }
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

/**
 * The bench texts of one server datagram (one or more events joined by
 * "\n"), without JSON-parsing the events: a line that starts like chatd's
 * msg event (the relay builds the same) and holds a bench text. The member
 * workers parse hundreds of thousands of events per second on the same 2
 * cores as the server under test; JSON.parse of each would make them the
 * bottleneck first. Bench texts are ASCII and hold no characters JSON escapes.
 */
export function scanBenchTexts(buf: Buffer, each: (tag: string, sentUs: number) => void): void {
  const s = buf.toString('latin1');
  let start = 0;
  while (start < s.length) {
    let end = s.indexOf('\n', start);
    if (end < 0) end = s.length;
    if (s.startsWith(MSG_PREFIX, start)) {
      const t = s.indexOf(TEXT_FIELD, start);
      if (t >= 0 && t < end) {
        const a = t + TEXT_FIELD.length;
        const b = s.indexOf('|', a);
        const c = s.indexOf('|', b + 1);
        if (b > a && c > b && c < end) each(s.slice(a, b), Number(s.slice(b + 1, c)));
      }
    }
    start = end + 1;
  }
}

const MSG_PREFIX = '{"type":"msg",';
const TEXT_FIELD = '"text":"B|';

/** The tag and send time of a bench text, or undefined for other texts. */
export function parseBenchText(text: unknown): { tag: string; sentUs: number } | undefined {
  if (typeof text !== 'string' || !text.startsWith('B|')) return undefined;
  const a = text.indexOf('|', 2);
  const b = text.indexOf('|', a + 1);
  if (a < 0 || b < 0) return undefined;
  return { tag: text.slice(2, a), sentUs: Number(text.slice(a + 1, b)) };
}
