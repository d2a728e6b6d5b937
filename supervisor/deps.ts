// What the supervisor's parts may reach, as narrow views: each control
// handler, the room life cycle and the notice handler name the few pieces
// of supervisor state they use (a Pick of SupervisorDeps) instead of
// holding the Supervisor. That keeps supervisor/ free of import circles and
// lets tests build any part from fakes.
import type { Clock } from '../lib/clock.js';
import type { Config } from '../lib/config.js';
import type { Peer } from '../lib/endpoint.js';
import type { Logger } from '../lib/logger.js';
import type { ReplayCache } from '../lib/replay-cache.js';
import type { ReplyBudget } from '../lib/reply-budget.js';
import type { ControlLimits, PendingBound } from './control-limits.js';
import type { Mailboxes } from './mailboxes.js';
import type { RoomEntry } from './room-entry.js';
import type { RoomRegistry } from './registry.js';

/** Datagrams from the control endpoint. */
export interface Replier {
  /** To an endpoint that proved its address (or a reply the protocol exempts). */
  send(to: Peer, encoded: Buffer): void;
  /** Within the reply budget; false if it did not fit (and was not sent). */
  sendWithin(to: Peer, budget: ReplyBudget, encoded: Buffer): boolean;
}

/** Starts and stops rooms (room-lifecycle.ts). Call both inside the room's mailbox. */
export interface RoomHost {
  createRoom(name: string, key: string | undefined): Promise<RoomEntry>;
  deleteRoom(entry: RoomEntry, reason: string): Promise<void>;
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
  /** False once shutdown began: no new members. */
  running(): boolean;
}

export type JoinDeps = Pick<
  SupervisorDeps,
  'config' | 'clock' | 'log' | 'registry' | 'replay' | 'limits' | 'pending' | 'mailboxes' | 'latestJoins' | 'host' | 'reply' | 'running'
>;
export type LeaveDeps = Pick<SupervisorDeps, 'log' | 'registry' | 'replay' | 'pending' | 'mailboxes' | 'host' | 'reply'>;
export type RoomsDeps = Pick<SupervisorDeps, 'config' | 'registry' | 'reply'>;
export type PingDeps = Pick<SupervisorDeps, 'reply'>;
export type WhereDeps = Pick<SupervisorDeps, 'registry' | 'reply' | 'advertise'>;
export type ControlDeps = JoinDeps & LeaveDeps & RoomsDeps & PingDeps & WhereDeps;
export type NoticeDeps = Pick<SupervisorDeps, 'config' | 'clock' | 'log' | 'registry' | 'replay' | 'mailboxes' | 'host'>;
export type LifecycleDeps = Pick<SupervisorDeps, 'config' | 'clock' | 'log' | 'registry' | 'mailboxes' | 'reply' | 'served' | 'running'> & Omit<NoticeDeps, 'host'>;
