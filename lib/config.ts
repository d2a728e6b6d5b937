// Service configuration: one table of defaults (units in the names), checked
// eagerly; unknown keys are rejected by name; the result is frozen.
import { readFileSync } from 'node:fs';

export const DEFAULTS = Object.freeze({
  /** Control endpoint address (protocol "Endpoints"). */
  host: '0.0.0.0',
  /** Control endpoint UDP port. */
  port: 7447,
  /** Room ports are taken from [roomPortMin, roomPortMax]; 0 and 0 mean ephemeral ports from the OS. */
  roomPortMin: 0,
  roomPortMax: 0,
  /** How often clients must send hb; sent to them in `joined`. */
  heartbeatMs: 5_000,
  /** A member silent for heartbeatMs x heartbeatMisses is evicted. */
  heartbeatMisses: 3,
  /** Sequenced events each room keeps for `fetch` (and in its journal). */
  historySize: 1_024,
  /** Largest datagram in either direction (protocol default 1,200: fits any path MTU). */
  maxDatagramBytes: 1_200,
  /** Largest `say` text in code points; the msg event must also fit maxDatagramBytes. */
  maxTextChars: 500,
  maxMembersPerRoom: 256,
  /** Each room is a process (~40 MB): this bounds the service's memory. */
  maxRooms: 200,
  /** Rooms one client endpoint may be in at once. */
  maxRoomsPerEndpoint: 32,
  /** Upper bound on a `rooms` page; the reply budget may make it smaller. */
  roomsPageSize: 100,
  /** Upper bound on a `who` page; the datagram size may make it smaller. */
  whoPageSize: 50,
  /** How long successful outcomes are replayed to retries (protocol: at least 30 s). */
  idempotenceWindowMs: 60_000,
  /** Bound on remembered outcomes per process, so an id flood costs bounded memory. */
  idempotenceMaxEntries: 100_000,
  /** Bytes queued for one member before its oldest queued events are dropped (it fetches them). */
  sendQueueMaxBytes: 262_144,
  /** Kernel socket buffer size for room and control sockets; bursts of fan-out need room. */
  socketBufferBytes: 1_048_576,
  /** A forked room that has not bound its port by then is killed. */
  roomStartTimeoutMs: 5_000,
  /** Deadline for a room to answer a membership request over IPC. */
  ipcTimeoutMs: 2_000,
  /** How long rooms get to say `closed` and exit on shutdown before SIGKILL. */
  shutdownTimeoutMs: 5_000,
  /** Restart intensity: more than this many crashes of one room within restartPeriodMs gives it up. */
  restartMaxRestarts: 5,
  restartPeriodMs: 10_000,
  /** Where rooms keep their journals (relative paths are from the working directory). */
  dataDir: 'data',
  logLevel: 'info' as 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent',
  /** "stdout" or a file path. */
  logDestination: 'stdout',
});

export type Config = Readonly<typeof DEFAULTS>;

type Rule = (v: unknown) => string | null;
const int = (min: number, max: number): Rule => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `an integer in ${min}..${max}`;
const nonEmpty: Rule = (v) => (typeof v === 'string' && v.length > 0 ? null : 'a non-empty string');
const oneOf = (...xs: string[]): Rule => (v) => (typeof v === 'string' && xs.includes(v) ? null : `one of ${xs.join(', ')}`);

const RULES: { [K in keyof typeof DEFAULTS]: Rule } = {
  host: nonEmpty,
  port: int(0, 65535),
  roomPortMin: int(0, 65535),
  roomPortMax: int(0, 65535),
  heartbeatMs: int(100, 3_600_000),
  heartbeatMisses: int(1, 100),
  historySize: int(1, 1_000_000),
  maxDatagramBytes: int(576, 65_507),
  maxTextChars: int(1, 60_000),
  maxMembersPerRoom: int(1, 100_000),
  maxRooms: int(1, 100_000),
  maxRoomsPerEndpoint: int(1, 100_000),
  roomsPageSize: int(1, 1_000),
  whoPageSize: int(1, 1_000),
  idempotenceWindowMs: int(30_000, 3_600_000),
  idempotenceMaxEntries: int(1_000, 10_000_000),
  sendQueueMaxBytes: int(1_200, 1 << 30),
  socketBufferBytes: int(65_536, 1 << 30),
  roomStartTimeoutMs: int(100, 600_000),
  ipcTimeoutMs: int(100, 600_000),
  shutdownTimeoutMs: int(100, 600_000),
  restartMaxRestarts: int(0, 1_000),
  restartPeriodMs: int(100, 86_400_000),
  dataDir: nonEmpty,
  logLevel: oneOf('fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'),
  logDestination: nonEmpty,
};

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Merges overrides onto DEFAULTS, naming the first bad or unknown key. */
export function makeConfig(overrides: Record<string, unknown>, source = 'config'): Config {
  const out: Record<string, unknown> = { ...DEFAULTS };
  for (const [k, v] of Object.entries(overrides)) {
    if (!Object.hasOwn(RULES, k)) {
      throw new ConfigError(`${source}: unknown key "${k}" (known keys: ${Object.keys(RULES).join(', ')})`);
    }
    const problem = RULES[k as keyof typeof RULES](v);
    if (problem) throw new ConfigError(`${source}: "${k}" must be ${problem}, got ${JSON.stringify(v)}`);
    out[k] = v;
  }
  const c = out as Config;
  if ((c.roomPortMin === 0) !== (c.roomPortMax === 0) || c.roomPortMin > c.roomPortMax) {
    throw new ConfigError(`${source}: "roomPortMin".."roomPortMax" must be a range (both 0 for ephemeral ports)`);
  }
  return Object.freeze(c);
}

export function loadConfigFile(path: string, overrides: Record<string, unknown> = {}): Config {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as Error).message}`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`config file ${path} is not valid JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new ConfigError(`config file ${path} must hold a JSON object`);
  }
  return makeConfig({ ...(parsed as Record<string, unknown>), ...overrides }, path);
}
