// Structured JSON logs. Core code emits events; the edges log. Secrets
// (tokens, room keys) are redacted wherever they appear in a log object.
import { pino, type Logger, type DestinationStream } from 'pino';
import { LogSink, openLogSink } from './log-sink.js';

export type { Logger };

export const REDACT_PATHS = ['token', 'key', 'adminToken', '*.token', '*.key', '*.adminToken', 'members[*].token'];

/** dest: "stdout", a file path, or a stream; strings get a LogSink (lib/log-sink.ts: bounded, never blocks). */
export function createLogger(level: string, dest: DestinationStream | string, base: Record<string, unknown>): Logger {
  const stream = typeof dest === 'string' ? openLogSink(dest) : dest;
  const log = pino(
    {
      level,
      base,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
  if (stream instanceof LogSink && !stream.onDropped) {
    stream.onDropped = (count) => log.warn({ event: 'log_lines_dropped', count }, 'the log reader fell behind: lines dropped');
  }
  return log;
}
