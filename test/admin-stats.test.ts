// The supervisor's book of room stats (supervisor/admin/room-stats.ts) and
// the series /metrics makes of it (room-series.ts), in memory: fake room
// processes that report and exit, a manual clock.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import type { StatsMsg } from '../lib/ipc.js';
import { RoomStatsBook } from '../supervisor/admin/room-stats.js';
import { OTHER_ROOMS, roomSeries } from '../supervisor/admin/room-series.js';
import { RoomEntry } from '../supervisor/room-entry.js';
import type { RoomHandle, RoomHandleEvents } from '../supervisor/room-handle.js';

let pids = 1000;

class FakeProc extends EventEmitter<RoomHandleEvents> {
  readonly pid = ++pids;
  report(says: number, extra: Partial<StatsMsg> = {}): void {
    this.emit('stats', stats({ says, deliveries: 10 * says, cpuUserUs: 1_000 * says, ...extra }));
  }
  exit(): void {
    this.emit('exit', { code: null, signal: 'SIGKILL', expected: false });
  }
}

function stats(o: Partial<StatsMsg>): StatsMsg {
  const latency = () => ({ counts: new Array<number>(16).fill(0), sumUs: 0 });
  return {
    type: 'stats', members: 1, seq: 1, joins: 0, leaves: 0, evictions: 0, says: 0, deliveries: 0, datagramsIn: 0, datagramsOut: 0, bytesIn: 0, bytesOut: 0,
    dropped: { undecodable: 0, 'no-token': 0, 'not-member': 0, 'port-zero': 0, 'queue-overflow': 0, 'send-failed': 0 },
    rateLimited: { say: 0, request: 0 }, journalWriteErrors: 0, journalWrite: latency(), fsync: latency(),
    queueBytes: 0, cpuUserUs: 0, cpuSystemUs: 0, rssBytes: 50e6, ...o,
  };
}

function setup(labels = 100) {
  const clock = new ManualClock();
  const current = new Set<RoomEntry>();
  const book = new RoomStatsBook(clock, { labels: () => labels, statsIntervalMs: () => 1_000, isCurrent: (e) => current.has(e) });
  const room = (name: string) => {
    const e = new RoomEntry(name, undefined, `/x/${name}`);
    current.add(e);
    return e;
  };
  const start = (e: RoomEntry) => {
    const p = new FakeProc();
    book.incarnation(e, p as unknown as RoomHandle);
    return p;
  };
  return { clock, book, room, start, drop: (e: RoomEntry) => current.delete(e) };
}

t.test('counts add up across incarnations; a report read after its exit adds only what is new', async (t) => {
  const { book, room, start } = setup();
  const e = room('lobby');
  const p1 = start(e);
  p1.report(3);
  p1.report(5);
  p1.exit();
  p1.report(6); // its last words, read after the exit
  const p2 = start(e);
  p2.report(2);
  const rec = book.record(e)!;
  t.equal(rec.totals().says, 8, '6 from the first process, 2 from the second');
  t.equal(rec.totals().cpuUserUs, 8_000);
  t.equal(rec.last?.says, 2, 'the last report is the current process\'s');
});

t.test('rates come from the last interval of one process, and stop when its reports do', async (t) => {
  const { clock, book, room, start } = setup();
  const e = room('lobby');
  const p = start(e);
  p.report(0);
  clock.advance(1_000);
  p.report(50);
  const rec = book.record(e)!;
  t.same(book.rates(rec), { messagesPerSec: 50, deliveriesPerSec: 500 });
  clock.advance(3_001);
  t.same(book.rates(rec), { messagesPerSec: 0, deliveriesPerSec: 0 }, 'stale after three intervals');
  p.exit();
  const p2 = start(e);
  p2.report(70);
  t.same(book.rates(rec), { messagesPerSec: 0, deliveriesPerSec: 0 }, 'a new process has no rate until its second report');
});

t.test('restarts, give-ups and evictions are counted and remembered, newest first, at most 50', async (t) => {
  const { book, room, start } = setup();
  const e = room('lobby');
  const p = start(e);
  p.emit('notice', { type: 'evicted', member: 'm1', seq: 3, members: 0, silentMs: 15_000, proven: true });
  book.restarting(e, { code: null, signal: 'SIGKILL' }, 20, 1);
  book.gaveUp(e, { code: 70, signal: null }, 'intensity');
  t.equal(book.record(e)!.restarts, 1);
  t.equal(book.record(e)!.evictions, 1);
  t.equal(book.giveUps.get('crashed'), 1);
  t.same(book.recent().map((r) => r.event), ['room_gave_up', 'room_restarted', 'member_evicted']);
  t.match(book.recent()[1], { room: 'lobby', detail: /SIGKILL.*restart 1.*20 ms/ });
  for (let i = 0; i < 60; i++) book.restarting(e, { code: 1, signal: null }, 0, 1);
  t.equal(book.recent().length, 50);
});

t.test('series: the first rooms keep their labels, the rest and the gone are in _other, which never goes down', async (t) => {
  const { book, room, start, drop } = setup(1);
  const [a, b, c] = ['a', 'b', 'c'].map((n) => room(n)) as [RoomEntry, RoomEntry, RoomEntry];
  const [pa, pb, pc] = [a, b, c].map((e) => start(e)) as [FakeProc, FakeProc, FakeProc];
  pa.report(1);
  pb.report(2);
  pc.report(3);
  let s = roomSeries(book);
  t.same(s.map((x) => x.room), ['a', OTHER_ROOMS]);
  t.equal(s[1]!.totals.says, 5);
  // b is deleted: its process exits, then it is gone from the registry.
  drop(b);
  t.equal(roomSeries(book)[1]!.totals.says, 5, 'a room being deleted stays until its process exits');
  pb.report(4);
  pb.exit();
  s = roomSeries(book);
  t.equal(s[1]!.totals.says, 7, '_other keeps what b did, its last report included');
  // a is deleted: its series go; a new room takes the free label, c stays in _other.
  drop(a);
  pa.exit();
  const d = room('d');
  start(d).report(1);
  s = roomSeries(book);
  t.same(s.map((x) => x.room), ['d', OTHER_ROOMS]);
  t.equal(s[1]!.totals.says, 7);
  const named = room(OTHER_ROOMS);
  start(named).report(1);
  t.equal(roomSeries(book).filter((x) => x.room === OTHER_ROOMS).length, 1, 'a room named _other is counted in _other, not beside it');
});
