// ChatClient options: defaults in one table (units in the names), checked
// eagerly with messages that name the option.
import type { Clock } from '../lib/clock.js';
import type { ClientTransport } from './transport.js';

export interface ChatClientOptions {
  /** Control endpoint host (name or IP literal). */
  host: string;
  /** Control endpoint UDP port. */
  port: number;
  /** @default systemClock */
  clock?: Clock;
  /** @default one UDP socket (udp6 for an IPv6 host, else udp4) bound to an ephemeral port */
  transport?: ClientTransport;
  /** First retry delay of a request; doubles per attempt, capped at 2000. @default 250 */
  retryInitialMs?: number;
  /** Sends per request before it fails with TIMEOUT. @default 8 */
  maxAttempts?: number;
  /** How long a missing seq may be late before it is fetched. @default 50 */
  reorderWaitMs?: number;
  /** Upper bound on the time close() spends leaving rooms. @default 2000 */
  closeTimeoutMs?: number;
  /** The service's datagram limit; `rooms` requests are padded to a third of it. @default 1200 */
  maxDatagramBytes?: number;
}

export const CLIENT_DEFAULTS = {
  retryInitialMs: 250,
  maxAttempts: 8,
  reorderWaitMs: 50,
  closeTimeoutMs: 2_000,
  maxDatagramBytes: 1_200, // protocol default; a larger service limit only makes pages smaller than they could be
};

export type ResolvedOptions = Required<Omit<ChatClientOptions, 'clock' | 'transport'>>;

const KNOWN = new Set(['host', 'port', 'clock', 'transport', ...Object.keys(CLIENT_DEFAULTS)]);

export function resolveOptions(opts: ChatClientOptions): ResolvedOptions {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('Expected options to be an object');
  for (const k of Object.keys(opts)) if (!KNOWN.has(k)) throw new TypeError(`Unknown option \`${k}\``);
  if (typeof opts.host !== 'string' || opts.host === '') throw new TypeError(`Expected \`host\` to be a non-empty string, got ${String(opts.host)}`);
  const r: ResolvedOptions = { host: opts.host, port: opts.port, ...CLIENT_DEFAULTS };
  for (const k of Object.keys(CLIENT_DEFAULTS) as Array<keyof typeof CLIENT_DEFAULTS>) {
    const v = opts[k];
    if (v !== undefined) r[k] = v;
  }
  checkInt('port', r.port, 1, 65_535);
  checkInt('retryInitialMs', r.retryInitialMs, 1, 3_600_000);
  checkInt('maxAttempts', r.maxAttempts, 1, 1_000);
  checkInt('reorderWaitMs', r.reorderWaitMs, 0, 3_600_000);
  checkInt('closeTimeoutMs', r.closeTimeoutMs, 0, 3_600_000);
  checkInt('maxDatagramBytes', r.maxDatagramBytes, 576, 65_507);
  return Object.freeze(r);
}

function checkInt(name: string, v: unknown, min: number, max: number): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`Expected \`${name}\` to be an integer in ${min}..${max}, got ${String(v)}`);
  }
}
