// What the supervisor's parts may reach, as narrow views: each control
// handler, the room life cycle and the notice handler name the few pieces
// of supervisor state they use (a Pick of SupervisorDeps) instead of
// holding the Supervisor. That keeps supervisor/ free of import circles and
// lets tests build any part from fakes.
import type { Clock } from '../lib/clock.js';
import type { ErrorInfo } from '../lib/errors.js';
import type { StreamInit } from '../lib/ipc.js';
import type { ControlRequest } from '../lib/wire.js';
import type { Config } from '../lib/config.js';
import type { Peer } from '../lib/endpoint.js';
import type { Logger } from '../lib/logger.js';
import type { ReplayCache } from '../lib/replay-cache.js';
import type { ReplyBudget } from '../lib/reply-budget.js';
import type { ControlLimits, PendingBound } from './control-limits.js';
import type { Mailboxes } from './mailboxes.js';
import type { RoomEntry } from './room-entry.js';
import type { RoomRegistry } from './registry.js';

/** Where the supervisor is in its life (the admin listener's readiness reads it). */
export type SupervisorStatus = 'starting' | 'running' | 'stopping' | 'stopped';

/** Datagrams from the control endpoint. */
export interface Replier {
  /** To an endpoint that proved its address (or a reply the protocol exempts). */
  send(to: Peer, encoded: Buffer): void;
  /** Within the reply budget; false if it did not fit (and was not sent). */
  sendWithin(to: Peer, budget: ReplyBudget, encoded: Buffer): boolean;
}

/** Where a room is, as this node's copy of the cluster directory says. */
export type Route =
  /** No node holds it: this node may create it. */
  | { kind: 'free' }
  /** This node holds it. */
  | { kind: 'local' }
  /** Another live node holds it and serves it. */
  | { kind: 'remote'; node: string }
  /** It is between nodes (its node is lost, or it is being taken over). */
  | { kind: 'unavailable' };

/** What the supervisor's parts use of cluster mode (supervisor/cluster/cluster.ts); undefined on a single node. */
export interface ClusterPort {
  readonly node: string;
  /** The address clients are told for this node's rooms. */
  readonly advertise: string;
  route(room: string): Route;
  /** Runs a control request at the node holding its room; ROOM_UNAVAILABLE when that node does not answer. */
  forward(node: string, req: ControlRequest, from: Peer, bytes: number): Promise<{ reply: Buffer } | { error: ErrorInfo } | { nothing: true }>;
  /** Claims a free room name for this node (before its room starts); ROOM_UNAVAILABLE if another node just took it. */
  claimNew(room: string, keyHash: string | undefined): Promise<void>;
  /** The room is serving here on port. */
  serving(room: string, port: number, members: number, keyHash: string | undefined): Promise<void>;
  /** The room was deleted here: its journal is purged and its name freed. */
  forget(room: string): Promise<void>;
  /** What a room process of this node is told about its journal. */
  streamInit(room: string, adopt: boolean): StreamInit;
  /** The key hash the directory keeps for a room (hex). */
  keyHashOf(room: string): string | undefined;
  /** Every room of the cluster with members, and their counts (as last pushed to the directory). */
  listRooms(): Array<{ room: string; members: number }>;
  /** This node stops: the room's record is orphaned so that another node takes it over at once. */
  abandon(room: string): Promise<void>;
  /** Whether this node's lease is held (else its rooms may be taken over). */
  holds(): boolean;
  /** The nodes holding a lease, as this node last read them (for operators: the admin listener's /status). */
  nodes(): Array<{ node: string; host: string; port: number; self: boolean }>;
  /** Whether the NATS connection is up (the admin listener's /readyz). */
  natsConnected(): boolean;
  stop(): Promise<void>;
}

/** Starts and stops rooms (room-lifecycle.ts). Call both inside the room's mailbox. */
export interface RoomHost {
  createRoom(name: string, key: string | undefined): Promise<RoomEntry>;
  deleteRoom(entry: RoomEntry, reason: string): Promise<void>;
  /** Another node holds the room now (cluster mode): its process stops without telling members, and the entry goes. */
  releaseRoom(entry: RoomEntry): Promise<void>;
}

export interface SupervisorDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly log: Logger;
  readonly registry: RoomRegistry;
  /** Successful join/leave outcomes replayed to retries (protocol "Requests and idempotence"). */
  readonly replay: ReplayCache<Buffer>;
  readonly limits: ControlLimits;
  /** Joins and leaves in progress per endpoint (maxPendingPerEndpoint). */
  readonly pending: PendingBound;
  /** Per-room mailboxes: membership operations on one room run one at a time. */
  readonly mailboxes: Mailboxes;
  /** The id of the join each endpoint sent last for a room, while joins of it are in progress. */
  readonly latestJoins: Map<string, string>;
  readonly host: RoomHost;
  readonly reply: Replier;
  /** The local addresses served, one control socket each; rooms bind the same ones (empty: the config's host). */
  readonly served: readonly string[];
  /** The address clients are told a room of this node is at, for a request that came in through ctx. */
  advertise(ctx: { readonly local?: string; readonly from: Peer }): string;
  /** Cluster mode's part of this node; undefined on a single node. */
  readonly cluster: ClusterPort | undefined;
  /** False once shutdown began: no new members. */
  running(): boolean;
}

export type JoinDeps = Pick<
  SupervisorDeps,
  'config' | 'clock' | 'log' | 'registry' | 'replay' | 'limits' | 'pending' | 'mailboxes' | 'latestJoins' | 'host' | 'reply' | 'running' | 'cluster' | 'advertise'
>;
export type LeaveDeps = Pick<SupervisorDeps, 'log' | 'registry' | 'replay' | 'pending' | 'mailboxes' | 'host' | 'reply' | 'cluster'>;
export type RoomsDeps = Pick<SupervisorDeps, 'config' | 'registry' | 'reply' | 'cluster'>;
export type PingDeps = Pick<SupervisorDeps, 'reply'>;
export type WhereDeps = Pick<SupervisorDeps, 'registry' | 'reply' | 'advertise' | 'cluster'>;
export type ControlDeps = JoinDeps & LeaveDeps & RoomsDeps & PingDeps & WhereDeps;
export type NoticeDeps = Pick<SupervisorDeps, 'config' | 'clock' | 'log' | 'registry' | 'replay' | 'mailboxes' | 'host'>;
export type LifecycleDeps = Pick<SupervisorDeps, 'config' | 'clock' | 'log' | 'registry' | 'mailboxes' | 'reply' | 'served' | 'running' | 'cluster' | 'advertise'> & Omit<NoticeDeps, 'host'>;
