// The room's side of the durability contract (protocol "Durability"): no
// event leaves before the journal holds it, a refused write is answered
// ROOM_UNAVAILABLE and takes no seq, the room keeps serving everything that
// writes nothing, and a restart continues above every seq it may have
// handed out. The wall clock moves only `ts`.
import t from 'tap';
import { JournalError, parseJournal } from '../rooms/journal.js';
import { startingSeq } from '../rooms/seq-guard.js';
import { makeRoom } from './helpers/room-fixture.js';

const full = () => new JournalError('ENOSPC', "the server's disk is full");

t.test('while the journal refuses writes, says are refused and take no seq; everything else keeps working', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  const before = f.room.seq;
  f.journal.failWith = full();
  const say = (n: number, id: string) => f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(n).token, id, text: `text ${id}` }), f.from(n));
  say(1, 'lost-1');
  say(1, 'lost-2');
  const got1 = f.take(40001);
  t.match(got1, [
    { type: 'error', code: 'ROOM_UNAVAILABLE', id: 'lost-1', message: /cannot store messages now: the server's disk is full/ },
    { type: 'error', code: 'ROOM_UNAVAILABLE', id: 'lost-2' },
  ]);
  t.notOk(got1.some((o) => o['type'] === 'msg'), 'no msg: nothing was acknowledged');
  t.same(f.take(40002), [], 'the other member saw nothing');
  t.equal(f.room.seq, before, 'no seq was taken');
  // hb, fetch and who write nothing: they keep working.
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(2).token }), f.from(2));
  f.room.handleDatagram(f.dgram({ type: 'fetch', token: f.record(2).token, from: 1, to: before }), f.from(2));
  f.room.handleDatagram(f.dgram({ type: 'who', token: f.record(2).token, id: 'w' }), f.from(2));
  const got2 = f.take(40002);
  t.match(got2[0], { type: 'hb', seq: before });
  t.ok(got2.some((o) => o['type'] === 'fetched'), 'fetch answered');
  t.ok(got2.some((o) => o['type'] === 'members'), 'who answered');
  // Space comes back: the same id is accepted, with the next seq.
  f.journal.failWith = undefined;
  say(1, 'lost-1');
  const got3 = f.take(40001);
  t.match(got3, [{ type: 'msg', id: 'lost-1', seq: before + 1 }]);
  t.match(f.take(40002), [{ type: 'msg', id: 'lost-1', seq: before + 1 }]);
  t.equal(f.journal.lines.length, before + 1, 'the journal holds every seq handed out, once');
  t.same(
    f.journal.lines.map((l) => (JSON.parse(l.toString()) as { seq: number }).seq),
    Array.from({ length: before + 1 }, (_, i) => i + 1),
  );
});

t.test('a say retried while its first copy is staged in the same turn is sequenced once', async (t) => {
  const f = makeRoom();
  f.join(1);
  for (let i = 0; i < 3; i++) f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'same', text: 'once' }), f.from(1));
  t.match(f.take(40001), [{ type: 'msg', id: 'same', seq: 2 }]);
  t.equal(f.room.seq, 2);
});

t.test('a join the journal cannot hold is refused with ROOM_UNAVAILABLE and leaves nothing behind', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.journal.failWith = full();
  t.throws(() => f.room.addMember(f.record(2)), { code: 'ROOM_UNAVAILABLE', message: /disk is full/ });
  t.equal(f.room.roster.size, 1, 'not added');
  f.journal.failWith = undefined;
  t.match(f.room.addMember(f.record(2)), { seq: 2, members: 2 }, 'the seq the refused join had is handed out now, once');
});

t.test('a leave or eviction during a full disk happens at once; the others hear of it once writes work', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 2 });
  f.join(1);
  f.join(2);
  f.join(3);
  f.settle();
  f.journal.failWith = full();
  f.room.handleDatagram(f.dgram({ type: 'leave', token: f.record(2).token, id: 'bye' }), f.from(2));
  t.match(f.take(40002), [{ type: 'left', id: 'bye' }], 'the leaver is answered at once');
  t.equal(f.room.roster.size, 2);
  t.match(f.notices.at(-1), { type: 'left', member: 'm2' }, 'the supervisor is told at once');
  t.same(f.take(40001), [], 'no presence event went out unstored');
  f.clock.advance(1_000);
  t.same(f.take(40001), [], 'still full: still owed');
  f.journal.failWith = undefined;
  f.clock.advance(1_000);
  t.match(f.take(40001), [{ type: 'presence', event: 'leave', member: 'm2', seq: 4 }], 'written and sent once the journal takes writes');
});

t.test('a restart whose journal ends below the seq floor continues above it; the lost part is a gap', async (t) => {
  const f = makeRoom({ historySize: 64 });
  f.join(1);
  for (let i = 0; i < 5; i++) f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: `s${i}`, text: 'x' }), f.from(1));
  f.flush();
  t.equal(f.room.seq, 6);
  // The journal lost its tail (seqs 5 and 6), and a line in the middle (3).
  const lines = f.journal.lines.map(String);
  const damaged = [lines[0], lines[1], lines[3]].map((l) => `${l}\n`).join('');
  const g = makeRoom({ historySize: 64 });
  const report = g.room.restore(parseJournal(damaged), [{ ...g.record(1), proven: true }], [], 6);
  t.match(report, { journalSeq: 4, seqFloor: 6, seq: 6, lost: 2 });
  g.room.handleDatagram(g.dgram({ type: 'say', token: g.record(1).token, id: 'after', text: 'new' }), g.from(1));
  t.match(g.take(40001), [{ type: 'msg', id: 'after', seq: 7 }], 'never below what was handed out');
  g.room.handleDatagram(g.dgram({ type: 'fetch', token: g.record(1).token, from: 1, to: 7 }), g.from(1));
  t.same(
    g.take(40001).map((o) => (o['type'] === 'gap' ? `gap ${o['from']}-${o['to']}` : o['type'] === 'fetched' ? 'fetched' : o['seq'])),
    [1, 2, 'gap 3-3', 4, 'gap 5-6', 7, 'fetched'],
    'every held event, each lost run as its own gap, in seq order',
  );
});

t.test('where a restarted room continues: journal, seq mark or lease ceiling', async (t) => {
  t.same(startingSeq(0, { missing: true }, 0), { seq: 0, basis: 'journal' }, 'a new room');
  t.same(startingSeq(40, { seq: 40 }, 16_384), { seq: 40, basis: 'journal' }, 'journal and mark agree');
  t.same(startingSeq(0, { seq: 40 }, 16_384), { seq: 40, basis: 'seq-mark' }, 'journal deleted: the mark');
  t.same(startingSeq(37, { seq: 40 }, 16_384), { seq: 40, basis: 'seq-mark' }, 'tail cut or torn: the mark');
  t.same(startingSeq(37, { missing: true }, 16_384), { seq: 16_384, basis: 'lease' }, 'mark gone too: above the ceiling');
  t.same(startingSeq(37, { invalid: 'not a number' }, 16_384), { seq: 16_384, basis: 'lease' }, 'a damaged mark is no proof');
  t.same(startingSeq(37, { seq: 99_999 }, 16_384), { seq: 16_384, basis: 'lease' }, 'a mark above the ceiling is not believed');
});

t.test('the witness hears each seq before the write, and a witness that refuses stops the event', async (t) => {
  const reported: number[] = [];
  let refuse = false;
  const f = makeRoom({}, {
    report: (seq) => {
      if (refuse) throw new JournalError(undefined, 'waiting');
      reported.push(seq);
    },
  });
  f.join(1);
  t.same(reported, [1]);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'a', text: 'a' }), f.from(1));
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'b', text: 'b' }), f.from(1));
  f.flush();
  t.same(reported, [1, 3], 'one report per turn, for its highest seq');
  refuse = true;
  f.take(40001);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'c', text: 'c' }), f.from(1));
  t.match(f.take(40001), [{ type: 'error', code: 'ROOM_UNAVAILABLE', id: 'c' }]);
  t.equal(f.journal.lines.length, 3, 'nothing written without the witness');
});

t.test('a wall-clock step moves ts and nothing else', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 3, sayRatePerSec: 1, sayBurst: 1 });
  f.join(1);
  f.join(2);
  f.settle();
  const say = (id: string) => f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id, text: id }), f.from(1));
  say('before');
  const ts0 = f.take(40001)[0]!['ts'] as number;
  f.clock.stepWall(3_600_000);
  say('too-soon');
  t.match(f.take(40001), [{ type: 'error', code: 'RATE_LIMITED' }], 'an hour forward refills no rate bucket');
  // Both members keep heartbeating across steps either way: nobody is evicted.
  for (let i = 0; i < 6; i++) {
    f.clock.stepWall(i % 2 === 0 ? -7_200_000 : 7_200_000);
    f.clock.advance(900);
    for (const n of [1, 2]) f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(n).token }), f.from(n));
  }
  t.equal(f.room.roster.size, 2, 'no eviction for a step in either direction');
  say('after');
  const msg = f.take(40001).find((o) => o['type'] === 'msg')!;
  t.ok(Math.abs((msg['ts'] as number) - (ts0 + 3_600_000 + 5_400)) < 10, 'ts follows the stepped wall clock');
  f.clock.stepWall(-3_600_000);
  f.clock.advance(2_900);
  t.equal(f.room.roster.size, 2, 'not evicted before the silence is really over');
  f.clock.advance(1_100);
  t.equal(f.room.roster.size, 0, 'and evicted once it is, by the monotonic clock');
});
