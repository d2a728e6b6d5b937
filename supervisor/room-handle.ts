// What the supervisor holds of one room incarnation: a handle it starts,
// asks, stops and watches. RoomProcess (room-process.ts) is the real one, a
// forked child; tests give the life cycle fakes through SpawnRoom, so the
// supervisor's logic runs in memory with a manual clock.
import type { FromRoom, LeaveRecord, MemberRecord, RoomReply, StatsMsg, StreamInit, ToRoom } from '../lib/ipc.js';
import type { Config } from '../lib/config.js';
import type { ExitInfo } from './restart-policy.js';

export type Unsolicited = Extract<FromRoom, { type: 'left' | 'evicted' | 'proven' | 'moved' | 'departed' | 'fenced' }>;
type Request = Extract<ToRoom, { rid: number }>;
type DistributiveOmit<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never;
/** A request to a room, before its rid is assigned. */
export type RoomRequestMsg = DistributiveOmit<Request, 'rid'>;

export interface StartSpec {
  room: string;
  port: number;
  /** The local addresses the room binds, one socket each (the control endpoint's). */
  addresses: string[];
  members: MemberRecord[];
  leaves: LeaveRecord[];
  journalPath: string;
  incarnation: number;
  /** The highest seq an earlier incarnation may have handed out (0 for a new room). */
  seqCeiling: number;
  /** The ceiling granted to this incarnation. */
  leaseTo: number;
  /** Cluster mode: the journal is a JetStream subject. */
  stream?: StreamInit;
}

export interface RoomHandleEvents {
  notice: [Unsolicited];
  /** Also emitted, once, when the process could not be started at all (spawnError set). */
  exit: [ExitInfo & { expected: boolean }];
  /** The OS started the process. */
  spawned: [];
  hung: [];
  /** A pooled process finished warming up (rooms/warm-up.ts). */
  warm: [];
  /** The room asks to hand out seqs up to upTo; answer with grantLease once recorded. */
  lease: [upTo: number];
  /** The room's counters (every statsIntervalMs, and once more as it closes). */
  stats: [StatsMsg];
}

export interface RoomHandle {
  readonly pid: number | undefined;
  /** A pooled process that has warmed up and is idle, waiting for init. */
  readonly warm: boolean;
  /** Set when the process could not be started at all (errno code, e.g. EMFILE). */
  readonly spawnError: string | undefined;
  /** Cluster mode, a room started with stream.adopt: the members it restored from its journal (with `ready`). */
  readonly adopted?: MemberRecord[] | undefined;
  /** Sends init and resolves with the bound port once the room is ready (members restored). */
  start(spec: StartSpec): Promise<number>;
  /** A request with a deadline; rejects with ROOM_UNAVAILABLE if the room dies or is too slow. */
  request(msg: RoomRequestMsg, timeoutMs?: number): Promise<RoomReply>;
  /** Tells the room its seq ceiling is now upTo (the supervisor has recorded it). */
  grantLease(upTo: number): void;
  /** Asks the room to close (members get `closed`), then kills it after timeoutMs. */
  stop(reason: string, timeoutMs: number): Promise<ExitInfo>;
  /** Pings the room every probeIntervalMs; emits `hung` once when one is not answered in probeTimeoutMs. */
  startProbing(): void;
  /** A config reload: the handle's own timeouts, and the room's live keys (IPC `reconfigure`) once it has its init. */
  reconfigure?(config: Config): void;
  kill(): void;
  whenExited(): Promise<ExitInfo>;
  on<K extends keyof RoomHandleEvents>(event: K, listener: (...args: RoomHandleEvents[K]) => void): this;
  once<K extends keyof RoomHandleEvents>(event: K, listener: (...args: RoomHandleEvents[K]) => void): this;
}

/** Makes the handle of a new room process (pooled: forked ahead, it warms up while idle). */
export type SpawnRoom = (pooled: boolean) => RoomHandle;
