// Structured JSON logs. Core code emits events; the edges log. Secrets
// (tokens, room keys) are redacted wherever they appear in a log object.
import { pino, type Logger, type DestinationStream } from 'pino';

export type { Logger };

export const REDACT_PATHS = ['token', 'key', '*.token', '*.key', 'members[*].token'];

export function createLogger(level: string, dest: DestinationStream | string, base: Record<string, unknown>): Logger {
  const stream =
    typeof dest === 'string'
      ? pino.destination(dest === 'stdout' ? { fd: 1, sync: false } : { dest, sync: false, mkdir: true })
      : dest;
  return pino(
    {
      level,
      base,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    stream,
  );
}
