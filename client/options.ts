// ChatClient options: defaults in one table (units in the names), checked
// eagerly with messages that name the option.
import { isIP } from 'node:net';
import type { Clock } from '../lib/clock.js';
import type { ServerAddress } from './control.js';
import type { ClientTransport } from './transport.js';

export type { ServerAddress } from './control.js';

/** How a lost membership is re-joined (client/rejoin.ts). */
export interface RejoinPolicy {
  /** Delay before the first attempt; doubles per attempt, ±20% jitter. */
  initialMs: number;
  /** Cap on the delay between attempts. */
  maxMs: number;
  /** Join attempts before giving up ('rejoin-failed'). */
  maxAttempts: number;
}

export interface ChatClientOptions {
  /** Control endpoint host (name or IP literal); with port, the same as servers: [{ host, port }]. */
  host?: string;
  /** Control endpoint UDP port. */
  port?: number;
  /**
   * The service's control endpoints (several nodes of one service: protocol
   * "Several nodes (cluster mode)"). Requests go to one of them; one left
   * unanswered moves the client on to the next (client/control.ts). Give
   * either servers or host and port. All share one address family: the
   * client's one socket is of the first one's family.
   */
  servers?: readonly ServerAddress[];
  /** @default systemClock */
  clock?: Clock;
  /** @default one UDP socket (udp6 for an IPv6 host of the first server, else udp4) bound to an ephemeral port */
  transport?: ClientTransport;
  /**
   * The least first retry delay of a request (also of hb resends and fetch
   * retries): the first retry comes after max(retryInitialMs, RTO), RTO
   * being measured from answered requests (client/rtt.ts); doubles per
   * attempt, capped at 2000. @default 250
   */
  retryInitialMs?: number;
  /** Sends per request before it fails with TIMEOUT (a `where` for a silent room has 2: client/locate.ts). @default 8 */
  maxAttempts?: number;
  /**
   * Join requests join() sends in all (each a new id with its own
   * maxAttempts sends) while the service answers RATE_LIMITED or
   * ROOM_UNAVAILABLE or does not answer; between them it waits 250 ms
   * doubling to 5 s, ±20% (client/join-retry.ts). @default 3
   */
  joinAttempts?: number;
  /** How long a missing seq may be late before it is fetched. @default 50 */
  reorderWaitMs?: number;
  /** Upper bound on the time close() spends leaving rooms. @default 2000 */
  closeTimeoutMs?: number;
  /** The service's datagram limit; `rooms` requests are padded to a third of it. @default 1200 */
  maxDatagramBytes?: number;
  /**
   * Re-join a room by itself when the membership is lost (the room answered
   * NOT_MEMBER, or `closed` with reason `crashed`, or a `where` for a room
   * that stopped answering found the membership gone: client/locate.ts).
   * `true` uses the defaults (initialMs 250, maxMs 5000, maxAttempts 10);
   * an object overrides some. With it, a silent room whose whereabouts no
   * control endpoint tells for maxAttempts unresponsive periods is given up
   * ('rejoin-failed').
   * @default false
   */
  autoRejoin?: boolean | Partial<RejoinPolicy>;
  /** Source of the rejoin jitter, in [0, 1). @default Math.random */
  random?: () => number;
}

export const CLIENT_DEFAULTS = {
  retryInitialMs: 250,
  maxAttempts: 8,
  joinAttempts: 3,
  reorderWaitMs: 50,
  closeTimeoutMs: 2_000,
  maxDatagramBytes: 1_200, // protocol default; a larger service limit only makes pages smaller than they could be
};

export const REJOIN_DEFAULTS: Readonly<RejoinPolicy> = Object.freeze({
  initialMs: 250,
  maxMs: 5_000,
  maxAttempts: 10,
});

export type ResolvedOptions = Readonly<
  Required<Omit<ChatClientOptions, 'host' | 'port' | 'servers' | 'clock' | 'transport' | 'autoRejoin' | 'random'>> & {
    /** host and port as a one-entry list, or servers. */
    servers: readonly ServerAddress[];
    /** undefined: lost memberships are not re-joined. */
    autoRejoin: Readonly<RejoinPolicy> | undefined;
    random: () => number;
  }
>;

const KNOWN = new Set(['host', 'port', 'servers', 'clock', 'transport', 'autoRejoin', 'random', ...Object.keys(CLIENT_DEFAULTS)]);
const MAX_MS = 3_600_000;

export function resolveOptions(opts: ChatClientOptions): ResolvedOptions {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('Expected options to be an object');
  for (const k of Object.keys(opts)) if (!KNOWN.has(k)) throw new TypeError(`Unknown option \`${k}\``);
  const servers = resolveServers(opts);
  const r = { ...CLIENT_DEFAULTS };
  for (const k of Object.keys(CLIENT_DEFAULTS) as Array<keyof typeof CLIENT_DEFAULTS>) {
    const v = opts[k];
    if (v !== undefined) r[k] = v;
  }
  checkInt('retryInitialMs', r.retryInitialMs, 1, MAX_MS);
  checkInt('maxAttempts', r.maxAttempts, 1, 1_000);
  checkInt('joinAttempts', r.joinAttempts, 1, 1_000);
  checkInt('reorderWaitMs', r.reorderWaitMs, 0, MAX_MS);
  checkInt('closeTimeoutMs', r.closeTimeoutMs, 0, MAX_MS);
  checkInt('maxDatagramBytes', r.maxDatagramBytes, 576, 65_507);
  const random = opts.random ?? Math.random;
  if (typeof random !== 'function') throw new TypeError(`Expected \`random\` to be a function, got ${String(random)}`);
  return Object.freeze({ ...r, servers, autoRejoin: resolveRejoin(opts.autoRejoin), random });
}

/** host and port, or servers: a list of at least one, each checked, naming the entry. */
function resolveServers(opts: ChatClientOptions): readonly ServerAddress[] {
  if (opts.servers === undefined) {
    if (typeof opts.host !== 'string' || opts.host === '') throw new TypeError(`Expected \`host\` to be a non-empty string (or \`servers\` to be given), got ${String(opts.host)}`);
    checkInt('port', opts.port, 1, 65_535);
    return Object.freeze([Object.freeze({ host: opts.host, port: opts.port })]);
  }
  if (opts.host !== undefined || opts.port !== undefined) throw new TypeError('Expected either `servers` or `host` and `port`, not both');
  const v: unknown = opts.servers;
  if (!Array.isArray(v) || v.length === 0) throw new TypeError(`Expected \`servers\` to be a non-empty array of { host, port }, got ${String(v)}`);
  const list = v.map((s: unknown, i): ServerAddress => {
    const name = `servers[${i}]`;
    if (typeof s !== 'object' || s === null || Array.isArray(s)) throw new TypeError(`Expected \`${name}\` to be an object { host, port }, got ${String(s)}`);
    for (const k of Object.keys(s)) if (k !== 'host' && k !== 'port') throw new TypeError(`Unknown option \`${name}.${k}\``);
    const { host, port } = s as Partial<ServerAddress>;
    if (typeof host !== 'string' || host === '') throw new TypeError(`Expected \`${name}.host\` to be a non-empty string, got ${String(host)}`);
    checkInt(`${name}.port`, port, 1, 65_535);
    return Object.freeze({ host, port });
  });
  // One socket serves every server: an address of the other family could never be reached from it.
  const family = isIP(list[0]!.host);
  const other = list.findIndex((s) => isIP(s.host) !== 0 && family !== 0 && isIP(s.host) !== family);
  if (other >= 0) throw new TypeError(`Expected every server in \`servers\` to be of one address family: \`servers[${other}].host\` ${list[other]!.host} is not IPv${family}`);
  return Object.freeze(list);
}

function resolveRejoin(v: unknown): Readonly<RejoinPolicy> | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return REJOIN_DEFAULTS;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new TypeError(`Expected \`autoRejoin\` to be a boolean or an object, got ${String(v)}`);
  }
  const keys = Object.keys(REJOIN_DEFAULTS);
  for (const k of Object.keys(v)) if (!keys.includes(k)) throw new TypeError(`Unknown option \`autoRejoin.${k}\``);
  const given = v as Partial<RejoinPolicy>;
  const p: RejoinPolicy = {
    initialMs: given.initialMs ?? REJOIN_DEFAULTS.initialMs,
    maxMs: given.maxMs ?? Math.max(REJOIN_DEFAULTS.maxMs, given.initialMs ?? 0),
    maxAttempts: given.maxAttempts ?? REJOIN_DEFAULTS.maxAttempts,
  };
  checkInt('autoRejoin.initialMs', p.initialMs, 1, MAX_MS);
  checkInt('autoRejoin.maxMs', p.maxMs, p.initialMs, MAX_MS);
  checkInt('autoRejoin.maxAttempts', p.maxAttempts, 1, 1_000);
  return Object.freeze(p);
}

function checkInt(name: string, v: unknown, min: number, max: number): asserts v is number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > max) {
    throw new TypeError(`Expected \`${name}\` to be an integer in ${min}..${max}, got ${String(v)}`);
  }
}
