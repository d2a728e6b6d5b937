// What a room process reports about itself every statsIntervalMs (the IPC
// `stats` message, lib/ipc.ts): the names and bounds both sides share.
// Every count is cumulative since the process started, so a restart starts
// again from zero and the supervisor adds the incarnations up
// (supervisor/admin/room-stats.ts).

/**
 * Why a room dropped a datagram it received, or an event it owed a member:
 * the reasons the room's `datagram_dropped` log line names, plus the send
 * queue's own (the `reason` label of chatd_datagrams_dropped_total).
 */
export const DROP_REASONS = [
  /** Not JSON, not an object, or over maxDatagramBytes. */
  'undecodable',
  /** No string `token`. */
  'no-token',
  /** A token no member of the room holds. */
  'not-member',
  /** Source port 0: nothing can be answered. */
  'port-zero',
  /** Events dropped from a member's send queue over sendQueueMaxBytes (the member fetches them). */
  'queue-overflow',
  /** Datagrams the socket refused (closed, or a destination it cannot send to). */
  'send-failed',
] as const;
export type DropReason = (typeof DROP_REASONS)[number];

/** Requests refused RATE_LIMITED, by the member's bucket (rooms/handlers/index.ts). */
export const RATE_LIMITED_KINDS = ['say', 'request'] as const;
export type RateLimitedKind = (typeof RATE_LIMITED_KINDS)[number];

/**
 * Upper bounds (milliseconds) of the journal latency histograms: a write to
 * the page cache takes tens of microseconds, an fsync on a busy disk tens
 * of milliseconds, a JetStream append a round trip. The last bucket (above
 * the last bound) is implicit.
 */
export const LATENCY_BOUNDS_MS: readonly number[] = Object.freeze([0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 25, 50, 100, 250, 500, 1_000, 2_500]);

/** A latency histogram as it crosses IPC: a count per bucket of LATENCY_BOUNDS_MS (one more for above the last bound) and the sum in whole microseconds. */
export interface LatencyCounts {
  counts: number[];
  sumUs: number;
}
