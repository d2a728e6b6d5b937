// Which orphaned rooms this node claims, and when (cluster mode). A room is
// orphaned when the node the directory names for it (with that boot) holds
// no lease. The rooms of a lost node are spread over the live nodes by
// rendezvous hashing (each room ranks the live nodes by a hash of node and
// room; the first claims it), so they do not pile up on one node; the
// second in rank claims a room only if it is still orphaned a lease later
// (the first may be dying too), and so on.
//
// A node judges only while its own lease is held: after NATS was away
// (an election of the lease bucket, a cut), every lease may have lapsed at
// once, and the others need a renewal period to come back. So a node must
// have been seen without a lease for confirmMs of this node's own good
// standing before its rooms are taken.
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

  /** How long a room must be seen orphaned before its first-ranked node claims it. */
  get confirmMs(): number {
    return Math.floor(this.leaseMs / 2);
  }

  /**
   * Rooms to claim now. live: node name -> boot of every node holding a
   * lease; holding: whether this node's own lease is held.
   */
  plan(live: ReadonlyMap<string, string>, records: ReadonlyArray<[string, DirRecord]>, holding: boolean): string[] {
    if (!holding) {
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
      if (rank >= 0 && now - since >= this.confirmMs + rank * this.leaseMs) claim.push(room);
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
  for (const n of nodes) if (n !== me && (weight(n, room) > mine || (weight(n, room) === mine && n < me))) rank++;
  return rank;
}

function weight(node: string, room: string): bigint {
  return createHash('sha256').update(node).update('\u0000').update(room).digest().readBigUInt64BE(0);
}
