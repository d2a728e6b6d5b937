// Which orphaned rooms this node claims, and when (cluster mode). A room is
// orphaned when the node the directory names for it (with that boot) holds
// no lease. The rooms of a lost node are spread over the live nodes by
// rendezvous hashing (each room ranks the live nodes by a hash of node and
// room; the first claims it), so they do not pile up on one node; the
// second in rank claims a room only if it is still orphaned a lease later
// (the first may be dying too), and so on.
//
// A node judges only once it has held its own lease without a break for a
// whole lease: after NATS was away (an election of the lease bucket, a
// cut), every lease may have lapsed at once, and the others need their
// renewal period to come back. Past that, the lease store has been working
// all along, so a node without a lease has missed three renewals: it is
// lost, and its rooms are taken at once.
import { createHash } from 'node:crypto';
import type { Clock } from '../../lib/clock.js';
import type { DirRecord } from './directory.js';

export class FailoverPlanner {
  /** Room -> clock time from which it has been seen orphaned (while this node held its lease). */
  private readonly orphanedSince = new Map<string, number>();

  constructor(
    private readonly me: string,
    private readonly leaseMs: number,
    private readonly clock: Clock,
  ) {}

  /**
   * Rooms to claim now. live: node name -> boot of every node holding a
   * lease; steadyMs: how long this node has held its own lease unbroken.
   */
  plan(live: ReadonlyMap<string, string>, records: ReadonlyArray<[string, DirRecord]>, steadyMs: number): string[] {
    if (steadyMs < this.leaseMs) {
      this.orphanedSince.clear();
      return [];
    }
    const now = this.clock.now();
    const seen = new Set<string>();
    const claim: string[] = [];
    const nodes = [...live.keys()];
    for (const [room, rec] of records) {
      if (live.get(rec.entry.node) === rec.entry.boot) continue;
      seen.add(room);
      const since = this.orphanedSince.get(room) ?? now;
      this.orphanedSince.set(room, since);
      const rank = rankOf(this.me, room, nodes);
      if (rank >= 0 && now - since >= rank * this.leaseMs) claim.push(room);
    }
    for (const room of [...this.orphanedSince.keys()]) if (!seen.has(room)) this.orphanedSince.delete(room);
    return claim;
  }
}

/** This node's place in the room's rendezvous order of the live nodes (0: first); -1 if it is not live. */
export function rankOf(me: string, room: string, nodes: readonly string[]): number {
  if (!nodes.includes(me)) return -1;
  const mine = weight(me, room);
  let rank = 0;
  for (const n of nodes) {
    if (n === me) continue;
    const w = weight(n, room);
    if (w > mine || (w === mine && n < me)) rank++;
  }
  return rank;
}

function weight(node: string, room: string): bigint {
  return createHash('sha256').update(node).update('\u0000').update(room).digest().readBigUInt64BE(0);
}
