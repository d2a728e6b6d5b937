// Typed IPC between the supervisor and its room actors, declared once as
// schemas: both sides validate what they receive (a bug in one process must
// not corrupt another's state). Requests carry `rid`; replies echo it.
import { arr, bool, field, type Field, type Infer, int, isPlainObject, lit, obj, object, opt, str, union } from './schema.js';
import { isErrorCode } from './errors.js';
import { DROP_REASONS, LATENCY_BOUNDS_MS, RATE_LIMITED_KINDS } from './room-stats.js';

/**
 * Seqs a room may hand out beyond what its supervisor has granted, asked
 * for when half is used (rooms/seq-guard.ts). Wide enough that a busy room
 * never waits for a grant; it is also how far above the last real seq a
 * room restarted without its seq mark continues.
 */
export const LEASE_SPAN = 16_384;

/** argv flag of a room process forked for the pool: it warms up and says `idle` while it waits for init. */
export const POOLED_FLAG = '--pooled';

const rid = () => int(1);
const name = () => str(1, 256);
const seq = () => int(0);

/** A membership as the supervisor (the source of truth) records it. */
export const MemberRecord = object({
  member: name(),
  nick: name(),
  /** hashToken of the membership's token (lib/tokens.ts): the raw token never leaves the supervisor that made it. */
  tokenHash: name(),
  address: name(),
  port: int(0, 65535),
  /** The endpoint has proven its address to the room; kept across restarts. */
  proven: opt(bool()),
});
export type MemberRecord = Infer<typeof MemberRecord>;

/** A successful room-endpoint leave, replayed to retries across restarts (protocol "Requests and idempotence"). */
export const LeaveRecord = object({ tokenHash: name(), address: name(), port: int(0, 65535), id: str(1, 64), at: int(0) });
export type LeaveRecord = Infer<typeof LeaveRecord>;
const memberRecord = obj(MemberRecord);
const plainObject = field('an object', (v): v is Record<string, unknown> => isPlainObject(v));
const errorCode = field('an error code', isErrorCode);

// ---- supervisor -> room -----------------------------------------------------

/**
 * Cluster mode: the room's journal is its subject of the cluster's
 * JetStream stream (rooms/stream-journal.ts) instead of a file.
 */
export const StreamInit = object({
  servers: arr(str(1, 256)),
  stream: name(),
  subject: name(),
  /** This node's name, written in the room's claim. */
  node: name(),
  /**
   * The room comes from another node (failover) or from an earlier life of
   * this one: its members are the journal's, not the supervisor's (which
   * has none), and come back in `ready`.
   */
  adopt: bool(),
});
export type StreamInit = Infer<typeof StreamInit>;

export const InitMsg = object({
  type: lit('init'),
  room: name(),
  /** 0: bind an ephemeral port; otherwise the room's port from an earlier incarnation. */
  port: int(0, 65535),
  /**
   * The local addresses to bind, one socket each, all on the same port: a
   * reply leaves from the address the client wrote to (protocol
   * "Transport"). Empty: the config's host.
   */
  addresses: arr(name()),
  /** The service config, validated again by the room. */
  config: plainObject,
  /** Members to restore before the port is bound (restart: protocol "A restarted room..."). */
  members: arr(memberRecord),
  /** Recent room-endpoint leaves, so their retries still get `left` after a restart. */
  leaves: arr(obj(LeaveRecord)),
  journalPath: name(),
  /** Cluster mode: the journal is a JetStream subject, not journalPath. */
  stream: opt(obj(StreamInit)),
  incarnation: int(1),
  /** The highest seq an earlier incarnation may have handed out (its lease ceiling; 0 for a new room). */
  seqCeiling: int(0),
  /** This incarnation may hand out seqs up to here; it asks for more with `lease`. */
  leaseTo: int(0),
});
export const AddMemberMsg = object({ type: lit('add'), rid: rid(), record: memberRecord });
/** ifUnproven: remove it only if its endpoint has not proven its address (a join replacing it, protocol "An unproven membership is replaced"). */
export const RemoveMemberMsg = object({ type: lit('remove'), rid: rid(), member: name(), ifUnproven: opt(bool()) });
export const PingMsg = object({ type: lit('ping'), rid: rid() });
export const ShutdownMsg = object({ type: lit('shutdown'), reason: name() });
/** The seq ceiling was raised to upTo (the answer to `lease`). */
export const LeasedMsg = object({ type: lit('leased'), upTo: int(0) });
/**
 * A config reload (SIGHUP): the supervisor's config as reloaded, validated
 * again by the room, which takes its live keys (lib/config.ts RELOAD).
 */
export const ReconfigureMsg = object({ type: lit('reconfigure'), config: plainObject });

export const ToRoom = union({
  init: InitMsg,
  add: AddMemberMsg,
  remove: RemoveMemberMsg,
  ping: PingMsg,
  shutdown: ShutdownMsg,
  leased: LeasedMsg,
  reconfigure: ReconfigureMsg,
});
export type InitMsg = Infer<typeof InitMsg>;
export type ToRoom = Infer<typeof ToRoom>;

// ---- room -> supervisor -----------------------------------------------------

/** A pooled process has loaded and warmed up (rooms/warm-up.ts) and waits for its init. */
export const IdleMsg = object({ type: lit('idle') });
/** members: with init.stream.adopt, the members the room restored from its journal (the supervisor had none). */
export const ReadyMsg = object({ type: lit('ready'), port: int(1, 65535), seq: seq(), members: opt(arr(memberRecord)) });
export const AddedMsg = object({ type: lit('added'), rid: rid(), seq: int(1), members: int(1) });
/** proven: not removed, because it has proven its address (a `remove` with ifUnproven). */
export const RemovedMsg = object({ type: lit('removed'), rid: rid(), seq: opt(int(1)), members: int(0), proven: opt(bool()) });
export const PongMsg = object({ type: lit('pong'), rid: rid() });
export const FailedMsg = object({ type: lit('failed'), rid: rid(), code: errorCode, message: str(0, 1000) });
/** A member left through the room endpoint; reqId lets the control endpoint replay `left`. */
export const LeftMsg = object({ type: lit('left'), member: name(), seq: int(1), reqId: str(1, 64), members: int(0) });
/** silentMs and proven say why: only the room saw the silence, and the supervisor logs the eviction. */
export const EvictedMsg = object({ type: lit('evicted'), member: name(), seq: int(1), members: int(0), silentMs: int(0), proven: bool() });
/**
 * On restart: the journal shows this member left or was evicted, but the
 * supervisor never heard of it (the notice died with the old process).
 */
export const DepartedMsg = object({ type: lit('departed'), member: name() });
/** The member's endpoint proved its address; the supervisor keeps it for restarts. */
export const ProvenMsg = object({ type: lit('proven'), member: name() });
/** The member's membership moved to a new endpoint (protocol "Address changes"): the control endpoint accepts its token there too, and a restart restores it there. */
export const MovedMsg = object({ type: lit('moved'), member: name(), address: name(), port: int(1, 65535) });
/** Another node or incarnation claimed the room (cluster mode): this process no longer serves it, and exits once told to. */
export const FencedMsg = object({ type: lit('fenced'), seq: seq() });
export const FatalMsg = object({ type: lit('fatal'), code: errorCode, message: str(0, 1000) });
/** The room asks for its seq ceiling to be raised to upTo before it hands out seqs up there (rooms/seq-guard.ts). */
export const LeaseMsg = object({ type: lit('lease'), upTo: int(1) });
/** One count per key (lib/room-stats.ts lists the keys). */
function counts<K extends string>(keys: readonly K[]) {
  return obj(object(Object.fromEntries(keys.map((k) => [k, int(0)])) as Record<K, Field<number>>));
}
const latency = () => obj(object({ counts: arr(int(0), LATENCY_BOUNDS_MS.length + 1), sumUs: int(0) }));
/**
 * The room's counters, every statsIntervalMs (and once more as it closes):
 * cumulative since this process started (lib/room-stats.ts), the gauges as
 * of now. The supervisor adds incarnations up for /metrics and /status.
 */
export const StatsMsg = object({
  type: lit('stats'),
  members: int(0),
  seq: seq(),
  joins: int(0),
  leaves: int(0),
  evictions: int(0),
  /** Chat messages sequenced (and stored). */
  says: int(0),
  /** Room events sent to members: one per event per member, however they were packed into datagrams. */
  deliveries: int(0),
  datagramsIn: int(0),
  datagramsOut: int(0),
  bytesIn: int(0),
  bytesOut: int(0),
  dropped: counts(DROP_REASONS),
  rateLimited: counts(RATE_LIMITED_KINDS),
  /** Journal writes that failed (the turn's events refused). */
  journalWriteErrors: int(0),
  /** A turn's journal write (cluster mode: its JetStream append, until stored). */
  journalWrite: latency(),
  fsync: latency(),
  /** Bytes waiting in the room's sockets' send queues (Node's, in user space: the kernel's buffer was full). */
  queueBytes: int(0),
  cpuUserUs: int(0),
  cpuSystemUs: int(0),
  rssBytes: int(0),
});
export type StatsMsg = Infer<typeof StatsMsg>;

export const FromRoom = union({
  idle: IdleMsg,
  ready: ReadyMsg,
  added: AddedMsg,
  removed: RemovedMsg,
  pong: PongMsg,
  failed: FailedMsg,
  left: LeftMsg,
  evicted: EvictedMsg,
  proven: ProvenMsg,
  moved: MovedMsg,
  departed: DepartedMsg,
  fenced: FencedMsg,
  fatal: FatalMsg,
  lease: LeaseMsg,
  stats: StatsMsg,
});
export type FromRoom = Infer<typeof FromRoom>;
/** The replies to supervisor requests, matched by rid. */
export type RoomReply = Extract<FromRoom, { rid: number }>;
