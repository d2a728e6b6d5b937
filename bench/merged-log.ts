// The local cluster's one log stream: every chatd node's and NATS server's
// lines, each as one JSON object naming its source in "node", so that one
// `grep`, `jq` or `pino-pretty` reads the whole cluster. Written through
// chatd's own stdout sink (lib/log-sink.ts): a reader that stalls or goes
// away costs dropped lines, never a stalled launcher that cannot stop its
// processes.
import { openStdoutSink, type LogSink } from '../lib/log-sink.js';

/** The label of the launcher's own lines. */
export const LAUNCHER = 'local-cluster';

/** NATS's level tags, as the level names chatd's lines use. */
const NATS_LEVELS: Record<string, string> = { TRC: 'trace', DBG: 'debug', INF: 'info', WRN: 'warn', ERR: 'error', FTL: 'fatal' };
const QUIET_NATS_LEVELS = new Set(['warn', 'error', 'fatal']);
// [pid] 2006/01/02 15:04:05.000000 [INF] text
const NATS_LINE = /^\[\d+\] \S+ \S+ \[([A-Z]{3})\] ?(.*)$/;

export type Fields = Record<string, unknown>;

/** The line as a JSON object, or undefined when it is not one (a stack trace, a stray print). */
export function parseObject(line: string): Fields | undefined {
  try {
    const v: unknown = JSON.parse(line);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Fields) : undefined;
  } catch {
    return undefined;
  }
}

/** A chatd line labelled with its node; a line that is no JSON object is kept whole as msg. */
export function labelChatdLine(node: string, line: string, parsed = parseObject(line)): Fields {
  if (!parsed) return { node, msg: line };
  // Our label first (the raw stream reads by node) and winning over a field of the same name.
  const out: Fields = { node, ...parsed };
  out['node'] = node;
  return out;
}

/** A NATS server's line in chatd's shape, or undefined when it is below the levels shown (all: every level). */
export function condenseNatsLine(node: string, line: string, all: boolean, now = new Date()): Fields | undefined {
  const m = NATS_LINE.exec(line);
  // An unparsed line (a panic's stack) is shown as an error: NATS writes nothing else untagged.
  const level = m ? (NATS_LEVELS[m[1]!] ?? 'info') : 'error';
  if (!all && !QUIET_NATS_LEVELS.has(level)) return undefined;
  return { node, level, time: now.toISOString(), msg: m ? m[2]! : line };
}

export class MergedLog {
  private readonly sink: LogSink;

  constructor(sink: LogSink = openStdoutSink()) {
    this.sink = sink;
    sink.onDropped = (count) => this.event(LAUNCHER, 'warn', 'log_lines_dropped', { count }, 'the log reader fell behind: lines dropped');
  }

  write(fields: Fields): void {
    this.sink.write(JSON.stringify(fields) + '\n');
  }

  /** A line of the launcher's own about a source (a node that exited, a dropped count). */
  event(node: string, level: string, event: string, fields: Fields, msg: string): void {
    this.write({ node, level, time: new Date().toISOString(), event, ...fields, msg });
  }

  /** What is still queued gets up to timeoutMs to reach the reader. */
  flush(timeoutMs: number): Promise<boolean> {
    return this.sink.flushWithin(timeoutMs);
  }
}
