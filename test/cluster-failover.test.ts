// Failover decisions in memory: the planner over a manual clock, and the
// directory's compare-and-set that settles a claim race. No NATS: the KV
// directory has the same conflict rules as MemoryDirectory, and the lease
// store is only the `live` map the planner is handed.
import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import { DirectoryConflict, MemoryDirectory, type DirEntry, type DirRecord } from '../supervisor/cluster/directory.js';
import { FailoverPlanner, rankOf } from '../supervisor/cluster/failover.js';

const LEASE = 3_000;

const entry = (node: string, boot: string, over: Partial<DirEntry> = {}): DirEntry => ({
  node,
  boot,
  host: '10.0.0.1',
  port: 5000,
  state: 'running',
  members: 2,
  ...over,
});
const rec = (node: string, boot: string, revision = 1): DirRecord => ({ entry: entry(node, boot), revision });
const liveOf = (...nodes: string[]) => new Map(nodes.map((n) => [n, `boot-${n}`]));

/** A room name whose rendezvous order over `nodes` is exactly `order` (rank 0 first). */
function roomRanked(order: string[]): string {
  for (let i = 0; i < 10_000; i++) {
    const room = `room-${i}`;
    if (order.every((n, r) => rankOf(n, room, order) === r)) return room;
  }
  throw new Error(`no room ranks ${order.join(',')}`);
}

t.test('rankOf gives each live node a distinct place, and -1 to a node that is not live', async (t) => {
  const nodes = ['a', 'b', 'c', 'd'];
  for (const room of ['lobby', 'x', 'room-42']) {
    t.strictSame(
      nodes.map((n) => rankOf(n, room, nodes)).sort(),
      [0, 1, 2, 3],
      `${room}: one node per rank`,
    );
  }
  t.equal(rankOf('z', 'lobby', nodes), -1);
  // The order is a property of node and room only: dropping a node keeps the others' relative order.
  const room = roomRanked(['c', 'a', 'd', 'b']);
  t.equal(rankOf('a', room, ['a', 'b', 'd']), 0, 'c gone: a moves up');
  t.equal(rankOf('d', room, ['a', 'b', 'd']), 1);
});

t.test('a room whose node holds a lease with the same boot is never claimed', async (t) => {
  const clock = new ManualClock();
  const nodes = ['a', 'b', 'c'];
  const live = liveOf(...nodes);
  const planners = nodes.map((n) => new FailoverPlanner(n, LEASE, clock));
  const records: Array<[string, DirRecord]> = [
    ['held-by-a', rec('a', 'boot-a')],
    ['held-by-b', rec('b', 'boot-b')],
  ];
  for (let i = 0; i < 5; i++) {
    for (const p of planners) t.strictSame(p.plan(live, records, 10 * LEASE), [], `round ${i}`);
    clock.advance(LEASE);
  }
});

t.test('a room whose node restarted (another boot) or has no lease is orphaned', async (t) => {
  const clock = new ManualClock();
  const live = new Map([
    ['a', 'boot-a2'],
    ['b', 'boot-b'],
  ]);
  const nodes = [...live.keys()];
  const restarted = roomRanked(['b', 'a']);
  const absent = roomRanked(['a', 'b']);
  const records: Array<[string, DirRecord]> = [
    [restarted, rec('a', 'boot-a1')],
    [absent, rec('gone', 'boot-gone')],
    ['held', rec('a', 'boot-a2')],
  ];
  t.equal(rankOf('b', restarted, nodes), 0);
  t.strictSame(new FailoverPlanner('b', LEASE, clock).plan(live, records, LEASE), [restarted], 'b claims the room a held in its earlier life');
  t.strictSame(new FailoverPlanner('a', LEASE, clock).plan(live, records, LEASE), [absent], 'a, now restarted, claims the lost node\'s room');
});

t.test('rank 0 claims at first sight, rank 1 a lease later, rank 2 two leases later', async (t) => {
  const clock = new ManualClock();
  const order = ['b', 'c', 'a'];
  const room = roomRanked(order);
  const live = liveOf('a', 'b', 'c');
  const records: Array<[string, DirRecord]> = [[room, rec('lost', 'boot-lost')]];
  const [p0, p1, p2] = order.map((n) => new FailoverPlanner(n, LEASE, clock));
  const round = () => [p0!, p1!, p2!].map((p) => p.plan(live, records, LEASE).length);

  t.strictSame(round(), [1, 0, 0], 'first sight: only rank 0');
  clock.advance(LEASE - 1);
  t.strictSame(round(), [1, 0, 0], 'a millisecond short of a lease: rank 1 still waits');
  clock.advance(1);
  t.strictSame(round(), [1, 1, 0], 'a lease later: rank 1 too');
  clock.advance(LEASE - 1);
  t.strictSame(round(), [1, 1, 0]);
  clock.advance(1);
  t.strictSame(round(), [1, 1, 1], 'two leases later: rank 2');
});

t.test('a room that stops being orphaned is forgotten: if orphaned again, the wait starts over', async (t) => {
  const clock = new ManualClock();
  const room = roomRanked(['a', 'b']);
  const p1 = new FailoverPlanner('b', LEASE, clock);
  const live = liveOf('a', 'b');
  const orphan: Array<[string, DirRecord]> = [[room, rec('lost', 'boot-lost')]];
  t.strictSame(p1.plan(live, orphan, LEASE), []);
  clock.advance(LEASE - 1);
  // Taken over by a in the meantime: held with a lease.
  t.strictSame(p1.plan(live, [[room, rec('a', 'boot-a', 2)]], LEASE), []);
  clock.advance(1);
  t.strictSame(p1.plan(live, orphan, LEASE), [], 'seen orphaned afresh: rank 1 waits a whole lease again');
  clock.advance(LEASE);
  t.strictSame(p1.plan(live, orphan, LEASE), [room]);
});

t.test('nothing is claimed until the node has held its own lease for a lease; then tracking starts afresh', async (t) => {
  const clock = new ManualClock();
  const order = ['a', 'b'];
  const room = roomRanked(order);
  const live = liveOf(...order);
  const records: Array<[string, DirRecord]> = [[room, rec('lost', 'boot-lost')]];
  const p0 = new FailoverPlanner('a', LEASE, clock);
  const p1 = new FailoverPlanner('b', LEASE, clock);

  t.strictSame(p0.plan(live, records, LEASE - 1), [], 'rank 0 with its lease just back waits');
  t.strictSame(p0.plan(live, records, 0), []);
  t.strictSame(p0.plan(live, records, LEASE), [room], 'a whole lease held: rank 0 claims');

  t.strictSame(p1.plan(live, records, LEASE), []);
  clock.advance(LEASE - 1);
  // b's own lease lapsed and came back: what it saw before proves nothing.
  t.strictSame(p1.plan(live, records, 10), []);
  clock.advance(1);
  t.strictSame(p1.plan(live, records, LEASE), [], 'without the reset rank 1 would claim here');
  clock.advance(LEASE - 1);
  t.strictSame(p1.plan(live, records, 2 * LEASE), []);
  clock.advance(1);
  t.strictSame(p1.plan(live, records, 2 * LEASE), [room], 'a lease after it was seen again');
});

t.test('a node that is not live itself claims nothing', async (t) => {
  const clock = new ManualClock();
  const p = new FailoverPlanner('z', LEASE, clock);
  const records: Array<[string, DirRecord]> = [['r', rec('lost', 'boot-lost')]];
  t.strictSame(p.plan(liveOf('a', 'b'), records, LEASE), []);
  clock.advance(10 * LEASE);
  t.strictSame(p.plan(liveOf('a', 'b'), records, 10 * LEASE), []);
});

t.test('the rooms of a lost node spread over the live nodes, each with exactly one first claimant', async (t) => {
  const clock = new ManualClock();
  const nodes = ['node-a', 'node-b', 'node-c'];
  const live = liveOf(...nodes);
  const records: Array<[string, DirRecord]> = [];
  for (let i = 0; i < 300; i++) records.push([`room-${i}`, rec('node-d', 'boot-node-d')]);
  const claims = new Map<string, string[]>();
  const shares: number[] = [];
  for (const n of nodes) {
    const mine = new FailoverPlanner(n, LEASE, clock).plan(live, records, LEASE);
    shares.push(mine.length);
    for (const room of mine) claims.set(room, [...(claims.get(room) ?? []), n]);
  }
  for (const [n, share] of nodes.map((n, i) => [n, shares[i]!] as const)) {
    t.ok(share >= 60 && share <= 141, `${n} claims ${share} of 300 (20%..47%)`);
  }
  t.equal(claims.size, 300, 'every room is claimed by someone');
  t.strictSame(
    [...claims.values()].filter((c) => c.length !== 1),
    [],
    'and by exactly one node',
  );
});

t.test('a claim race is settled by the directory: one update wins, the other conflicts', async (t) => {
  const clock = new ManualClock();
  const dir = new MemoryDirectory();
  const seen: Array<[string, number | undefined]> = [];
  dir.onChange((room, r) => seen.push([room, r?.revision]));
  const room = roomRanked(['a', 'b']);
  const rev = await dir.create(room, entry('lost', 'boot-lost'));
  // b has not seen a's lease yet: each thinks it is first in rank.
  const pa = new FailoverPlanner('a', LEASE, clock);
  const pb = new FailoverPlanner('b', LEASE, clock);
  t.strictSame(pa.plan(liveOf('a', 'b'), dir.list(), LEASE), [room]);
  t.strictSame(pb.plan(liveOf('b'), dir.list(), LEASE), [room]);

  const claimedA = entry('a', 'boot-a', { state: 'moving', port: 0 });
  const claimedB = entry('b', 'boot-b', { state: 'moving', port: 0 });
  const won = await dir.update(room, claimedA, rev);
  t.ok(won > rev);
  await t.rejects(dir.update(room, claimedB, rev), DirectoryConflict, 'b wrote against a stale revision');
  t.strictSame(dir.get(room), { entry: claimedA, revision: won }, 'a holds the room');
  // Once the record names a live holder, neither plans it again.
  t.strictSame(pa.plan(liveOf('a', 'b'), dir.list(), LEASE), []);
  t.strictSame(pb.plan(liveOf('a', 'b'), dir.list(), LEASE), []);

  await t.rejects(dir.create(room, entry('c', 'boot-c')), DirectoryConflict, 'a taken name cannot be created');
  await dir.remove(room, rev);
  t.strictSame(dir.get(room)?.revision, won, 'a remove at a stale revision leaves the record');
  await dir.remove(room, won);
  t.equal(dir.get(room), undefined);
  t.strictSame(dir.list(), []);
  t.strictSame(seen, [
    [room, rev],
    [room, won],
    [room, undefined],
  ], 'listeners saw the create, the winning update and the remove, and nothing for refused writes');
});

t.test('the directory copies what it stores', async (t) => {
  const dir = new MemoryDirectory();
  const e = entry('a', 'boot-a');
  await dir.create('r', e);
  e.members = 99;
  t.equal(dir.get('r')?.entry.members, 2, 'a caller changing its object does not change the record');
});
