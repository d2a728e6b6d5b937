// Service configuration: one table of defaults (units in the names), checked
// eagerly; unknown keys are rejected by name; the result is frozen.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { isDeepStrictEqual } from 'node:util';
import { parseCidr } from './cidr.js';
import { isValidRoomName } from './names.js';

// Each choice is listed once: its type and its config rule come from the list.
const RESTART_TYPES = ['permanent', 'transient', 'temporary'] as const;
const FSYNC_MODES = ['always', 'interval', 'never'] as const;
const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export type RestartType = (typeof RESTART_TYPES)[number];

/**
 * The restart policy, service-wide; an entry of roomPolicies overrides any
 * of these keys for one room. Declared apart so that this group is the one
 * list of restart keys (RESTART_KEYS, RestartSettings).
 */
const RESTART = {
  /**
   * Restart policy (after OTP): permanent restarts after any exit, transient
   * only after a crash (non-zero code or a signal), temporary never.
   */
  restartType: 'transient' as RestartType,
  /** Restart intensity: more than this many restarts of one room within restartPeriodMs gives it up. */
  restartMaxRestarts: 5,
  restartPeriodMs: 10_000,
  /** Delay before the n-th restart in the window: initial x factor^(n-1), capped, with +-jitter. */
  restartBackoffInitialMs: 20,
  restartBackoffFactor: 2,
  restartBackoffMaxMs: 5_000,
  /** A fraction: each delay is scaled by a factor drawn from [1 - jitter, 1 + jitter]. */
  restartBackoffJitter: 0.1,
};

/**
 * Cluster mode (docs/cluster.md): several nodes serve one room space
 * through NATS JetStream. Without natsServers a node is a single node, with
 * its file journals and nothing of NATS loaded.
 */
const CLUSTER = {
  /** NATS servers to connect to, as nats://host:port URLs; empty: a single node. */
  natsServers: Object.freeze([]) as readonly string[],
  /** This node's name, unique in the cluster (letters, digits, '-', '_'); empty: the host name and control port. */
  nodeName: '',
  /** The IP literal clients are told for this node's rooms (`joined.host`, `here`); empty: host if it is one address, else the first served non-loopback address. */
  advertiseHost: '',
  /** Prefix of every NATS name the cluster uses (streams, buckets, subjects), so clusters can share one NATS. */
  clusterName: 'chatd',
  /** Copies JetStream keeps of each room's journal and of the directory (1-5; at most the NATS cluster's size). */
  journalReplicas: 1,
  /**
   * How long a node that stopped renewing its lease keeps its rooms; it
   * renews every third of this. Every node of a cluster must use the same
   * value (the lease bucket's TTL is set by the first node).
   */
  nodeLeaseMs: 2_000,
};

const TABLE = {
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
  /** Each room is a process (~50 MB RSS, ~15-25 MB PSS): this bounds the service's memory. */
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
  /**
   * All control requests per source address; beyond it they are dropped
   * unanswered (a flood gets nothing). Above joinBurst and joinRatePerSec,
   * so a crowd behind one address is answered (joined or RATE_LIMITED),
   * not dropped.
   */
  controlRatePerSec: 200,
  controlBurst: 400,
  /**
   * Joins of existing rooms per source address; beyond it, RATE_LIMITED.
   * Sized for a crowd behind one NAT address: what a forged source can do
   * with joins is held by maxUnprovenPerAddress, not by this rate.
   */
  joinRatePerSec: 50,
  joinBurst: 100,
  /** Joins that create a room (a process each) per source address, counted apart from joinRatePerSec; beyond it, RATE_LIMITED. */
  roomCreateRatePerSec: 1,
  roomCreateBurst: 10,
  /**
   * Memberships from one source address that have not proven it yet (no
   * datagram with their token reached their room), joins in progress
   * included; beyond it, joins from that address get RATE_LIMITED. Clients
   * behind a NAT prove themselves within a round trip; forged joins never do.
   */
  maxUnprovenPerAddress: 32,
  /** A membership that has not proven its address within this is dropped by its room (an eviction). */
  unprovenTimeoutMs: 5_000,
  /** A join still waiting for its room's turn this long after it arrived is dropped unanswered: its client has retried or gone. */
  joinQueueTimeoutMs: 10_000,
  /**
   * Source networks exempt from every per-address limit of the control
   * endpoint (control, join, room creation, wrong keys, unproven
   * memberships, error replies): CIDRs or addresses, e.g. ["10.0.0.0/8",
   * "192.0.2.7"]. Global, per-endpoint and per-member limits still apply.
   */
  limitExemptCidrs: Object.freeze([]) as readonly string[],
  /** Wrong room keys per source address; past the burst, joins to keyed rooms from it are dropped unevaluated (no guessing). */
  badKeyRatePerSec: 0.2,
  badKeyBurst: 5,
  /** Joins and leaves one endpoint may have in progress at once; beyond it, further ones are dropped unanswered. */
  maxPendingPerEndpoint: 8,
  /** Error replies to endpoints that have not proven their address, per source address; the rest are dropped. */
  errorReplyRatePerSec: 20,
  errorReplyBurst: 40,
  /** `say` per member: a sustained rate and a burst (token bucket); beyond it, RATE_LIMITED. */
  sayRatePerSec: 20,
  sayBurst: 40,
  /** Other room requests per member (hb, fetch, who): the same, so a member cannot keep the room busy. */
  requestRatePerSec: 100,
  requestBurst: 200,
  /** Bytes queued for one member before its oldest queued events are dropped (it fetches them). */
  sendQueueMaxBytes: 262_144,
  /** Kernel socket buffer size for room and control sockets; bursts of fan-out need room. */
  socketBufferBytes: 1_048_576,
  /**
   * Fan-out through sendmmsg(2) (rooms/native/udp-batch.cc), up to 1,024
   * datagrams per system call, when the native helper was built (`npm run
   * build` compiles it where g++ and Node's headers are); false, or no
   * helper: one Node dgram send per datagram. Same datagrams either way.
   */
  fanoutSendmmsg: true,
  /** Room processes forked ahead and kept idle, so a new room or a restart does not wait for a fork (each ~50 MB RSS). */
  roomPoolSize: 1,
  /** A forked room that has not bound its port by then is killed. */
  roomStartTimeoutMs: 5_000,
  /** Deadline for a room to answer a membership request over IPC. */
  ipcTimeoutMs: 2_000,
  /** How long rooms get to say `closed` and exit on shutdown before SIGKILL. */
  shutdownTimeoutMs: 5_000,
  ...RESTART,
  /** Per-room overrides of the restart keys: {"lobby": {"restartType": "permanent"}}. */
  roomPolicies: {} as Readonly<Record<string, RestartOverrides>>,
  /** The supervisor pings every room this often over IPC... */
  probeIntervalMs: 1_000,
  /** ...and SIGKILLs (then restarts) a room that has not answered within this (a hung event loop). */
  probeTimeoutMs: 5_000,
  /** Journal durability, as Redis's appendfsync: fsync after every write, at most once per interval, or never (the OS decides). */
  journalFsync: 'interval' as (typeof FSYNC_MODES)[number],
  journalFsyncIntervalMs: 1_000,
  /** Keep a room's journal after the room is deleted (audit/debugging); by default it is deleted. */
  keepJournals: false,
  /** Where rooms keep their journals (relative paths are from the working directory). */
  dataDir: 'data',
  logLevel: 'info' as (typeof LOG_LEVELS)[number],
  /** "stdout" or a file path. */
  logDestination: 'stdout',
  /**
   * The admin HTTP listener (/metrics, /status, /healthz, /readyz, the
   * status page): on loopback by default; empty turns it off. Never on a
   * public address unless configured.
   */
  adminHost: '127.0.0.1',
  /** Its TCP port; 0: any free port (named in the `listening` log line). */
  adminPort: 7448,
  /** When set, every admin request must carry `Authorization: Bearer <adminToken>` (compared in constant time). */
  adminToken: '',
  /** Rooms with their own `room` label in /metrics; the rest are summed under room="_other" (bounds the series). */
  metricsRoomLabels: 100,
  /** How often each room reports its counters to the supervisor (for /metrics and /status). */
  statsIntervalMs: 1_000,
  ...CLUSTER,
};

/** The defaults, frozen: a caller cannot change what every later makeConfig starts from. */
export const DEFAULTS: Readonly<typeof TABLE> = Object.freeze(TABLE);

export type Config = Readonly<typeof TABLE>;
/** One room's restart policy (restartPolicyOf). */
export type RestartSettings = Readonly<typeof RESTART>;
export type RestartOverrides = Partial<RestartSettings>;
type RestartKey = keyof RestartSettings;
/** The keys a room's entry in roomPolicies may override. */
export const RESTART_KEYS: readonly RestartKey[] = Object.freeze(Object.keys(RESTART) as RestartKey[]);

/**
 * What a reload (SIGHUP: supervisor/reload.ts) does with each key, declared
 * once for every key (a new key does not compile until it is placed):
 * - `live`: the supervisor and every running room take the new value;
 * - `new-rooms`: taken by room processes started after the reload (new
 *   rooms, restarts); a running room keeps the value it started with;
 * - `restart`: kept as it was until chatd restarts; a changed value is
 *   reported as not applied (the comment says why).
 */
export type ReloadClass = 'live' | 'new-rooms' | 'restart';
export const RELOAD: { readonly [K in keyof typeof TABLE]: ReloadClass } = Object.freeze({
  // The control sockets and every room's sockets are bound to these at start.
  host: 'restart',
  port: 'restart',
  // A running room keeps its port for life (restarts too), and the range is what the firewall opens.
  roomPortMin: 'restart',
  roomPortMax: 'restart',
  // Rooms judge each member by the larger of this and the value in force when it joined (what its `joined` said).
  heartbeatMs: 'live',
  heartbeatMisses: 'live',
  // A room's history ring and its journal's compaction point are sized when its process starts.
  historySize: 'new-rooms',
  // Every endpoint checks and packs datagrams to this size, and clients are built to it: the control socket and the rooms must not disagree.
  maxDatagramBytes: 'restart',
  maxTextChars: 'live',
  maxMembersPerRoom: 'live',
  maxRooms: 'live',
  maxRoomsPerEndpoint: 'live',
  roomsPageSize: 'live',
  whoPageSize: 'live',
  // The replay caches of the supervisor and of every room are made with them, and a retry must keep getting the answer it was promised.
  idempotenceWindowMs: 'restart',
  idempotenceMaxEntries: 'restart',
  controlRatePerSec: 'live',
  controlBurst: 'live',
  joinRatePerSec: 'live',
  joinBurst: 'live',
  roomCreateRatePerSec: 'live',
  roomCreateBurst: 'live',
  maxUnprovenPerAddress: 'live',
  unprovenTimeoutMs: 'live',
  joinQueueTimeoutMs: 'live',
  limitExemptCidrs: 'live',
  badKeyRatePerSec: 'live',
  badKeyBurst: 'live',
  maxPendingPerEndpoint: 'live',
  errorReplyRatePerSec: 'live',
  errorReplyBurst: 'live',
  sayRatePerSec: 'live',
  sayBurst: 'live',
  requestRatePerSec: 'live',
  requestBurst: 'live',
  sendQueueMaxBytes: 'live',
  // Set on each socket when it is bound.
  socketBufferBytes: 'restart',
  // Chosen when a room binds its sockets; kept service-wide so that every room sends the same way.
  fanoutSendmmsg: 'restart',
  roomPoolSize: 'live',
  roomStartTimeoutMs: 'live',
  ipcTimeoutMs: 'live',
  shutdownTimeoutMs: 'live',
  restartType: 'live',
  restartMaxRestarts: 'live',
  restartPeriodMs: 'live',
  restartBackoffInitialMs: 'live',
  restartBackoffFactor: 'live',
  restartBackoffMaxMs: 'live',
  restartBackoffJitter: 'live',
  roomPolicies: 'live',
  probeIntervalMs: 'live',
  probeTimeoutMs: 'live',
  // A room's journal writer is opened with them.
  journalFsync: 'new-rooms',
  journalFsyncIntervalMs: 'new-rooms',
  keepJournals: 'live',
  // Locked at start (chatd.lock), and every room's journal lives there.
  dataDir: 'restart',
  logLevel: 'live',
  // Opened at start; SIGHUP reopens the same path (log rotation), it does not move the log elsewhere.
  logDestination: 'restart',
  // The admin listener (supervisor/admin/) is bound with these when chatd starts.
  adminHost: 'restart',
  adminPort: 'restart',
  // Checked on every admin request against the config of the moment: a new token takes effect at once.
  adminToken: 'live',
  // Read at every scrape: rooms beyond a lowered bound join room="_other" from the next one.
  metricsRoomLabels: 'live',
  // Each room reads it once, when it starts its stats timer.
  statsIntervalMs: 'restart',
  // Cluster mode: the NATS connection, this node's identity and the cluster's stream, buckets and leases are set up at start, and the others must agree on them.
  natsServers: 'restart',
  nodeName: 'restart',
  advertiseHost: 'restart',
  clusterName: 'restart',
  journalReplicas: 'restart',
  nodeLeaseMs: 'restart',
});

/** Keys whose values are never logged (a reload names them, never shows them). */
export const SECRET_KEYS: ReadonlySet<string> = new Set(['adminToken']);

type Rule = (v: unknown) => string | null;
const int = (min: number, max: number): Rule => (v) =>
  typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max ? null : `an integer in ${min}..${max}`;
const nonEmpty: Rule = (v) => (typeof v === 'string' && v.length > 0 ? null : 'a non-empty string');
const num = (min: number, max: number): Rule => (v) =>
  typeof v === 'number' && Number.isFinite(v) && v >= min && v <= max ? null : `a number in ${min}..${max}`;
const bool: Rule = (v) => (typeof v === 'boolean' ? null : 'true or false');
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
  controlRatePerSec: num(0.1, 1_000_000),
  controlBurst: int(1, 1_000_000),
  joinRatePerSec: num(0.01, 1_000_000),
  joinBurst: int(1, 1_000_000),
  roomCreateRatePerSec: num(0.01, 1_000_000),
  roomCreateBurst: int(1, 1_000_000),
  maxUnprovenPerAddress: int(1, 1_000_000),
  unprovenTimeoutMs: int(100, 3_600_000),
  joinQueueTimeoutMs: int(100, 3_600_000),
  limitExemptCidrs: (v) => checkCidrs(v),
  badKeyRatePerSec: num(0.001, 1_000_000),
  badKeyBurst: int(1, 1_000_000),
  maxPendingPerEndpoint: int(1, 10_000),
  errorReplyRatePerSec: num(0.1, 1_000_000),
  errorReplyBurst: int(1, 1_000_000),
  sayRatePerSec: num(0.1, 1_000_000),
  sayBurst: int(1, 1_000_000),
  requestRatePerSec: num(0.1, 1_000_000),
  requestBurst: int(1, 1_000_000),
  sendQueueMaxBytes: int(1_200, 1 << 30),
  socketBufferBytes: int(65_536, 1 << 30),
  fanoutSendmmsg: bool,
  roomPoolSize: int(0, 64),
  roomStartTimeoutMs: int(100, 600_000),
  ipcTimeoutMs: int(100, 600_000),
  shutdownTimeoutMs: int(100, 600_000),
  restartType: oneOf(...RESTART_TYPES),
  restartMaxRestarts: int(0, 1_000),
  restartPeriodMs: int(100, 86_400_000),
  restartBackoffInitialMs: int(0, 600_000),
  restartBackoffFactor: num(1, 100),
  restartBackoffMaxMs: int(0, 3_600_000),
  restartBackoffJitter: num(0, 1),
  roomPolicies: (v) => checkRoomPolicies(v),
  probeIntervalMs: int(50, 600_000),
  probeTimeoutMs: int(50, 600_000),
  journalFsync: oneOf(...FSYNC_MODES),
  journalFsyncIntervalMs: int(10, 600_000),
  keepJournals: bool,
  dataDir: nonEmpty,
  logLevel: oneOf(...LOG_LEVELS),
  logDestination: nonEmpty,
  adminHost: (v) => (typeof v === 'string' && (v === '' || isIP(v) !== 0 || v === 'localhost') ? null : 'empty (off), "localhost" or an IP address literal'),
  adminPort: int(0, 65535),
  adminToken: (v) => (typeof v === 'string' && (v === '' || (v.length >= 16 && v.length <= 256 && !/\s/.test(v))) ? null : 'empty, or 16-256 characters without spaces'),
  metricsRoomLabels: int(0, 10_000),
  statsIntervalMs: int(100, 600_000),
  natsServers: (v) => checkNatsServers(v),
  nodeName: (v) => (typeof v === 'string' && (v === '' || NATS_TOKEN.test(v)) ? null : `empty or 1-64 of A-Z a-z 0-9 - _`),
  advertiseHost: (v) => (typeof v === 'string' && (v === '' || isIP(v) !== 0) ? null : 'empty or an IP address literal'),
  clusterName: (v) => (typeof v === 'string' && NATS_TOKEN.test(v) ? null : '1-64 of A-Z a-z 0-9 - _'),
  journalReplicas: int(1, 5),
  nodeLeaseMs: int(500, 600_000),
};

/** A name that may stand in a NATS subject, stream or bucket name. */
const NATS_TOKEN = /^[A-Za-z0-9_-]{1,64}$/;

function checkNatsServers(v: unknown): string | null {
  const shape = 'an array of nats://host:port URLs (e.g. ["nats://10.0.0.1:4222"])';
  if (!Array.isArray(v)) return shape;
  for (const x of v) {
    if (typeof x !== 'string' || !/^(nats|tls):\/\/[^\s/]+:\d{1,5}$/.test(x)) return `${shape}; ${JSON.stringify(x)} is not one`;
  }
  return null;
}

function checkCidrs(v: unknown): string | null {
  const shape = 'an array of CIDRs or IP addresses (e.g. ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"])';
  if (!Array.isArray(v)) return shape;
  for (const x of v) {
    if (typeof x !== 'string' || parseCidr(x) === undefined) return `${shape}; ${JSON.stringify(x)} is not one`;
  }
  return null;
}

function checkRoomPolicies(v: unknown): string | null {
  const shape = 'an object of room name -> {restart* overrides}';
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return shape;
  for (const [room, o] of Object.entries(v)) {
    if (!isValidRoomName(room)) return `${shape}; "${room}" is not a valid room name`;
    if (typeof o !== 'object' || o === null || Array.isArray(o)) return `${shape}; "${room}" must map to an object`;
    for (const [k, x] of Object.entries(o as Record<string, unknown>)) {
      if (!isRestartKey(k)) return `${shape}; "${room}" has unknown key "${k}" (allowed: ${RESTART_KEYS.join(', ')})`;
      const problem = RULES[k](x);
      if (problem) return `${shape}; "${room}"."${k}" must be ${problem}`;
    }
  }
  return null;
}

function isRestartKey(k: string): k is RestartKey {
  return (RESTART_KEYS as readonly string[]).includes(k);
}

/** The restart policy of one room: the service's, with the room's overrides. */
export function restartPolicyOf(c: Config, room: string): RestartSettings {
  const o = Object.hasOwn(c.roomPolicies, room) ? c.roomPolicies[room] : undefined;
  const p: Partial<Record<RestartKey, unknown>> = {};
  for (const k of RESTART_KEYS) p[k] = o?.[k] ?? c[k];
  return p as RestartSettings;
}

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/**
 * The shortest time restartMaxRestarts restarts of a room can take: the
 * backoff delays before restarts 1..restartMaxRestarts at their smallest
 * (lowest jitter draw), as backoffMs in supervisor/restart-policy.ts
 * computes them, for a room that crashes the moment it is back.
 */
export function shortestRestartRunMs(p: RestartSettings): number {
  let sum = 0;
  for (let prior = 0; prior < p.restartMaxRestarts; prior++) {
    // 0 x factor^prior stays 0 where factor^prior overflows to Infinity.
    const base = p.restartBackoffInitialMs === 0 ? 0 : Math.min(p.restartBackoffMaxMs, p.restartBackoffInitialMs * p.restartBackoffFactor ** prior);
    sum += Math.max(0, Math.round(base * (1 - p.restartBackoffJitter)));
  }
  return sum;
}

/**
 * The intensity limit gives a room up when restartPeriodMs holds
 * restartMaxRestarts restarts. If the backoff alone spreads that many
 * restarts over restartPeriodMs or more, the window never holds them, and a
 * room that cannot start crash-loops for ever: refused, naming the keys.
 */
function checkRestartIntensity(p: RestartSettings, where: string): void {
  if (p.restartType === 'temporary') return; // never restarted
  const runMs = shortestRestartRunMs(p);
  if (runMs < p.restartPeriodMs) return;
  throw new ConfigError(
    `${where}restart settings can never give a room up: the backoff delays before restarts 1..${p.restartMaxRestarts} ` +
      `("restartMaxRestarts" ${p.restartMaxRestarts}; "restartBackoffInitialMs" ${p.restartBackoffInitialMs}, "restartBackoffFactor" ${p.restartBackoffFactor}, ` +
      `"restartBackoffMaxMs" ${p.restartBackoffMaxMs}, "restartBackoffJitter" ${p.restartBackoffJitter}) add up to at least ${runMs} ms, ` +
      `not less than "restartPeriodMs" ${p.restartPeriodMs}, so the window never holds ${p.restartMaxRestarts} restarts; ` +
      `raise "restartPeriodMs", or lower "restartMaxRestarts" or the backoff`,
  );
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
    // A frozen copy: the config is immutable all the way down.
    out[k] = Array.isArray(v) ? Object.freeze([...(v as unknown[])]) : v;
  }
  const c = out as Config;
  if ((c.roomPortMin === 0) !== (c.roomPortMax === 0) || c.roomPortMin > c.roomPortMax) {
    throw new ConfigError(`${source}: "roomPortMin".."roomPortMax" must be a range (both 0 for ephemeral ports)`);
  }
  checkRestartIntensity(c, `${source}: `);
  for (const room of Object.keys(c.roomPolicies)) {
    checkRestartIntensity(restartPolicyOf(c, room), `${source}: "roomPolicies"."${room}" (with the service-wide restart* values): `);
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

/** What a reload does, key by key (RELOAD), to the config chatd runs with. */
export interface ReloadPlan {
  /** The supervisor's config from now on: the file's values, except `restart` keys, which keep theirs. */
  config: Config;
  /** Keys given a new value: `live` and `new-rooms` ones. */
  changed: string[];
  /** Of those, the keys only room processes started from now on take. */
  newRoomsOnly: string[];
  /** `restart` keys the file changed: left as they were. */
  notApplied: string[];
}

export function planReload(current: Config, next: Config): ReloadPlan {
  const out: Record<string, unknown> = {};
  const changed: string[] = [];
  const newRoomsOnly: string[] = [];
  const notApplied: string[] = [];
  for (const k of Object.keys(RELOAD) as Array<keyof Config>) {
    const same = isDeepStrictEqual(current[k], next[k]);
    if (RELOAD[k] === 'restart') {
      out[k] = current[k];
      if (!same) notApplied.push(k);
      continue;
    }
    out[k] = next[k];
    if (same) continue;
    changed.push(k);
    if (RELOAD[k] === 'new-rooms') newRoomsOnly.push(k);
  }
  // Checked again as a whole: a rule across keys must hold for the mix too.
  return { config: makeConfig(out, 'reloaded config'), changed, newRoomsOnly, notApplied };
}

/** A running room's config after a reload: the `live` keys from next, the others as the room started with them. */
export function liveConfig(room: Config, next: Config): Config {
  const out: Record<string, unknown> = { ...room };
  for (const k of Object.keys(RELOAD) as Array<keyof Config>) if (RELOAD[k] === 'live') out[k] = next[k];
  return Object.freeze(out) as Config;
}
