import t from 'tap';
import { makeRoom } from './helpers/room-fixture.js';
import { StatsMsg } from '../lib/ipc.js';
import { statsMessage } from '../rooms/stats.js';

t.test('say is sequenced once and fanned out to every proven member, the sender included', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  const tok = f.record(1).token;
  f.room.handleDatagram(f.dgram({ type: 'say', token: tok, id: 'a', text: 'hello' }), f.from(1));
  const to1 = f.take(40001);
  const to2 = f.take(40002);
  t.equal(to1.length, 1);
  t.same(to1[0], { type: 'msg', room: 'first', seq: 3, member: 'm1', nick: 'nick1', text: 'hello', ts: f.clock.now(), id: 'a' });
  t.same(to2, to1, 'every member gets the same bytes');
});

t.test('seqs have no holes across presence and msg events', async (t) => {
  const f = makeRoom();
  t.equal(f.join(1).seq, 1);
  t.equal(f.join(2).seq, 2);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(2).token, id: 'x', text: 'hi' }), f.from(2));
  t.equal(f.room.removeMember('m2').seq, 4);
  const seen = f.take(40001).map((o) => o['seq']);
  t.same(seen, [2, 3, 4], 'member 1 sees the later join, the msg and the leave in order');
});

t.test('a repeated say id is not sequenced twice and the original msg goes to the sender only', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  const say = f.dgram({ type: 'say', token: f.record(1).token, id: 'dup', text: 'once' });
  f.room.handleDatagram(say, f.from(1));
  const first = f.take(40001);
  f.take(40002);
  f.clock.advance(10);
  f.room.handleDatagram(say, f.from(1));
  t.same(f.take(40001), first, 'the retry gets the original msg, same ts and seq');
  t.same(f.take(40002), [], 'others do not see it again');
  t.equal(f.room.seq, 3);
});

t.test('a new member gets no room traffic until its first datagram, then fetches the rest', async (t) => {
  const f = makeRoom();
  f.join(1);
  const added = f.room.addMember(f.record(2));
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 's', text: 'before hb' }), f.from(1));
  t.same(f.take(40002), [], 'unproven member receives nothing');
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(2).token }), f.from(2));
  t.same(f.take(40002), [{ type: 'hb', room: 'first', seq: added.seq + 1 }], 'hb reply tells it the latest seq');
  t.same(
    f.notices.filter((n) => n.type === 'proven').map((n) => (n as { member: string }).member),
    ['m1', 'm2'],
    'the supervisor learns each proof once',
  );
});

t.test('tokens are bound to the endpoint that joined: another endpoint is challenged, not obeyed', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'spoof', text: 'hi' }), f.from(2));
  const got = f.take(40002);
  t.equal(got.length, 1);
  t.match(got[0], { type: 'challenge', room: 'first' });
  t.same(f.take(40001), [], 'nothing was sequenced');
  t.equal(f.room.seq, 2);
});

t.test('error precedence at the room endpoint', async (t) => {
  const f = makeRoom();
  f.join(1);
  const tok = f.record(1).token;
  const cases: Array<[string, object, string]> = [
    ['no token', { type: 'say', id: 'x', text: 'hi' }, 'BAD_REQUEST'],
    ['unknown token before field errors', { type: 'say', token: 'nope', id: 5 }, 'NOT_MEMBER'],
    ['field error after a valid token', { type: 'say', token: tok, id: 5, text: 'hi' }, 'BAD_REQUEST'],
    ['unknown type with a valid token', { type: 'dance', token: tok }, 'BAD_REQUEST'],
    ['text too long', { type: 'say', token: tok, id: 'l', text: 'x'.repeat(501) }, 'TOO_LARGE'],
    ['empty text', { type: 'say', token: tok, id: 'e', text: '' }, 'BAD_REQUEST'],
    ['control characters', { type: 'say', token: tok, id: 'c', text: 'a\u0007b' }, 'BAD_REQUEST'],
    ['fetch to below from', { type: 'fetch', token: tok, from: 5, to: 4 }, 'BAD_REQUEST'],
    ['fetch from zero', { type: 'fetch', token: tok, from: 0, to: 4 }, 'BAD_REQUEST'],
  ];
  for (const [name, msg, code] of cases) {
    f.room.handleDatagram(f.dgram(msg), f.from(1));
    const got = f.take(40001);
    t.match(got, [{ type: 'error', code }], name);
  }
  t.equal(f.room.seq, 1, 'no refused request took a seq');
});

t.test('a say whose msg would exceed the datagram limit is refused before taking a seq', async (t) => {
  const f = makeRoom({ maxDatagramBytes: 600, maxTextChars: 1000 });
  f.join(1);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'big', text: 'y'.repeat(520) }), f.from(1));
  t.match(f.take(40001), [{ type: 'error', code: 'TOO_LARGE', id: 'big' }]);
  t.equal(f.room.seq, 1);
});

t.test('oversized and garbage datagrams from strangers are answered within 3x or dropped', async (t) => {
  const f = makeRoom();
  f.room.handleDatagram(Buffer.from('{'), f.from(9));
  t.same(f.take(40009), [], 'tiny garbage gets no reply (budget 3 bytes)');
  const big = Buffer.alloc(1201, 0x20);
  f.room.handleDatagram(big, f.from(9));
  t.match(f.take(40009), [{ type: 'error', code: 'TOO_LARGE' }]);
  const hb = f.dgram({ type: 'hb', token: 'unknown-token-of-some-length' });
  f.room.handleDatagram(hb, f.from(9));
  const got = f.take(40009);
  t.match(got, [{ type: 'error', code: 'NOT_MEMBER' }]);
  t.ok(JSON.stringify(got[0]).length <= 3 * hb.length, 'reply within 3x the request');
});

t.test('fetch answers gap, held events, then fetched, with clamping', async (t) => {
  const f = makeRoom({ historySize: 4 });
  f.join(1);
  for (let i = 0; i < 6; i++) {
    f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: `s${i}`, text: `t${i}` }), f.from(1));
  }
  f.take(40001);
  t.equal(f.room.seq, 7);
  f.room.handleDatagram(f.dgram({ type: 'fetch', token: f.record(1).token, from: 1, to: 100 }), f.from(1));
  const got = f.take(40001);
  t.same(got[0], { type: 'gap', room: 'first', from: 1, to: 3 });
  t.same(
    got.slice(1, -1).map((o) => o['seq']),
    [4, 5, 6, 7],
  );
  t.same(got.at(-1), { type: 'fetched', room: 'first', from: 1, to: 7 });
  f.room.handleDatagram(f.dgram({ type: 'fetch', token: f.record(1).token, from: 9, to: 20 }), f.from(1));
  t.same(f.take(40001), [{ type: 'fetched', room: 'first', from: 9, to: 8 }], 'empty range: fetched alone with to = from - 1');
});

t.test('fetch answers at most 256 events per request', async (t) => {
  const f = makeRoom({ historySize: 1000, sayBurst: 1000 });
  f.join(1);
  for (let i = 0; i < 300; i++) {
    f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: `s${i}`, text: 'x' }), f.from(1));
  }
  f.take(40001);
  f.room.handleDatagram(f.dgram({ type: 'fetch', token: f.record(1).token, from: 2, to: 1000 }), f.from(1));
  const got = f.take(40001);
  t.equal(got.length, 257);
  t.same(got.at(-1), { type: 'fetched', room: 'first', from: 2, to: 257 });
});

t.test('who pages are sorted by member and continue with after', async (t) => {
  const f = makeRoom({ whoPageSize: 2 });
  for (const n of [3, 1, 2]) f.join(n);
  const tok = f.record(1).token;
  f.room.handleDatagram(f.dgram({ type: 'who', token: tok, id: 'w1' }), f.from(1));
  const p1 = f.take(40001).filter((o) => o['type'] === 'members');
  t.same(p1, [{ type: 'members', id: 'w1', room: 'first', members: [{ member: 'm1', nick: 'nick1' }, { member: 'm2', nick: 'nick2' }], more: true }]);
  f.room.handleDatagram(f.dgram({ type: 'who', token: tok, id: 'w2', after: 'm2' }), f.from(1));
  const p2 = f.take(40001).filter((o) => o['type'] === 'members');
  t.same(p2, [{ type: 'members', id: 'w2', room: 'first', members: [{ member: 'm3', nick: 'nick3' }], more: false }]);
});

t.test('leave from the room endpoint: others see presence leave, the leaver gets left, retries replay it', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  const leave = f.dgram({ type: 'leave', token: f.record(2).token, id: 'bye' });
  f.room.handleDatagram(leave, f.from(2));
  t.same(f.take(40002), [{ type: 'left', id: 'bye', room: 'first' }]);
  t.match(f.take(40001), [{ type: 'presence', event: 'leave', member: 'm2', seq: 3 }]);
  t.match(f.notices.at(-1), { type: 'left', member: 'm2', seq: 3, reqId: 'bye', members: 1 });
  f.room.handleDatagram(leave, f.from(2));
  t.same(f.take(40002), [{ type: 'left', id: 'bye', room: 'first' }], 'the retry gets left again');
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(2).token }), f.from(2));
  t.match(f.take(40002), [{ type: 'error', code: 'NOT_MEMBER' }], 'the token is gone');
  t.equal(f.room.seq, 3);
});

t.test('a silent member is evicted after heartbeatMs x misses, not earlier, and within one more interval', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 3 });
  f.join(1);
  f.join(2);
  f.settle();
  // member 1 keeps sending hb; member 2 is silent from t0
  const hb1 = f.dgram({ type: 'hb', token: f.record(1).token });
  for (let i = 0; i < 5; i++) {
    f.clock.advance(500);
    f.room.handleDatagram(hb1, f.from(1));
  }
  t.equal(f.room.roster.size, 2, 'not evicted before 3000 ms of silence (2500 ms passed)');
  f.clock.advance(500); // 3000 ms of silence
  f.clock.advance(1000); // the protocol allows up to one more heartbeatMs
  t.equal(f.room.roster.size, 1, 'evicted by 4000 ms of silence');
  t.match(f.notices.filter((n) => n.type === 'evicted'), [{ type: 'evicted', member: 'm2', members: 1 }]);
  t.match(f.take(40001).filter((o) => o['type'] === 'presence'), [{ event: 'evict', member: 'm2', seq: 3 }]);
});

t.test('a member that never proves its address is evicted after unprovenTimeoutMs, long before the heartbeat deadline', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 3, unprovenTimeoutMs: 400 });
  f.join(1);
  f.room.addMember(f.record(2)); // joined, never heard from: its client gave up, or the join was forged
  f.settle();
  const hb1 = f.dgram({ type: 'hb', token: f.record(1).token });
  f.clock.advance(399);
  t.equal(f.room.roster.size, 2, 'not evicted before unprovenTimeoutMs');
  f.clock.advance(201); // the sweep runs every unprovenTimeoutMs / 2
  f.room.handleDatagram(hb1, f.from(1));
  t.equal(f.room.roster.size, 1, 'evicted within half a deadline more');
  t.match(f.notices.filter((n) => n.type === 'evicted'), [{ type: 'evicted', member: 'm2', members: 1 }], 'the supervisor is told, as for any eviction');
  t.match(f.take(40001).filter((o) => o['type'] === 'presence'), [{ event: 'evict', member: 'm2' }], 'the others see presence evict');
  f.clock.advance(2_000);
  t.equal(f.room.roster.size, 1, 'a proven member keeps the heartbeat deadline');
});

t.test('remove ifUnproven takes out an unproven member and leaves a proven one (a join replacing it)', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.room.addMember(f.record(2));
  t.same(f.room.removeMember('m1', true), { members: 2, proven: true }, 'a proven member stays; the reply says why');
  t.equal(f.room.roster.size, 2);
  const r = f.room.removeMember('m2', true);
  t.match(r, { seq: 3, members: 1 });
  t.notOk('proven' in r);
  t.match(f.take(40001).filter((o) => o['type'] === 'presence'), [{ event: 'join', member: 'm2' }, { event: 'leave', member: 'm2' }], 'the others see it leave');
});

t.test('any datagram with a valid token, even malformed, is a sign of life', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 2 });
  f.join(1);
  for (let i = 0; i < 10; i++) {
    f.clock.advance(900);
    f.room.handleDatagram(f.dgram({ type: 'bogus', token: f.record(1).token }), f.from(1));
  }
  t.equal(f.room.roster.size, 1);
});

t.test('history, seq and say dedupe survive a restart through the journal', async (t) => {
  const { parseJournal } = await import('../rooms/journal.js');
  const f = makeRoom();
  f.join(1);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'keep', text: 'durable' }), f.from(1));
  f.flush();
  const text = f.journal.lines.map((b) => b.toString() + '\n').join('');
  const g = makeRoom();
  g.room.restore(parseJournal(text), [{ ...f.record(1), proven: true }]);
  t.equal(g.room.seq, 2, 'seq continues');
  g.room.handleDatagram(g.dgram({ type: 'say', token: g.record(1).token, id: 'keep', text: 'durable' }), g.from(1));
  const got = g.take(40001);
  t.match(got, [{ type: 'msg', seq: 2, id: 'keep' }], 'a retried say is answered with the original, not sequenced again');
  g.room.handleDatagram(g.dgram({ type: 'say', token: g.record(1).token, id: 'new', text: 'next' }), g.from(1));
  t.match(g.take(40001), [{ type: 'msg', seq: 3 }]);
});

t.test('the journal is written before the datagrams leave', async (t) => {
  const f = makeRoom();
  f.join(1);
  const before = f.journal.lines.length;
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 'j', text: 'x' }), f.from(1));
  t.equal(f.journal.lines.length, before, 'not yet written inside the turn');
  f.flush();
  t.equal(f.journal.lines.length, before + 1, 'written by the flush that sends');
});

t.test('close sends closed to proven members and stops handling datagrams', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.room.close('shutdown');
  t.same(f.take(40001), [{ type: 'closed', room: 'first', reason: 'shutdown' }]);
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), f.from(1));
  t.same(f.take(40001), []);
  t.equal(f.clock.timerCount, 0, 'the eviction sweep is stopped');
});

t.test('addMember refuses a second membership from the same endpoint', async (t) => {
  const f = makeRoom();
  f.join(1);
  t.throws(() => f.room.addMember({ ...f.record(2), port: 40001 }), { code: 'ALREADY_JOINED' });
});

t.test('a fetch is answered in full even beyond the send-queue bound', async (t) => {
  const f = makeRoom({ historySize: 300, sendQueueMaxBytes: 2_000, maxTextChars: 1000 });
  f.join(1);
  const text = 'z'.repeat(900);
  for (let i = 0; i < 20; i++) {
    f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: `s${i}`, text }), f.from(1));
    f.take(40001);
  }
  f.room.handleDatagram(f.dgram({ type: 'fetch', token: f.record(1).token, from: 1, to: 21 }), f.from(1));
  const got = f.take(40001);
  t.same(
    got.map((o) => o['seq'] ?? o['type']),
    [...Array.from({ length: 21 }, (_, i) => i + 1), 'fetched'],
    'all 21 events, then fetched',
  );
});

t.test('a burst of room events beyond the bound drops the oldest for that member only', async (t) => {
  const f = makeRoom({ historySize: 300, sendQueueMaxBytes: 3_000, maxTextChars: 1000 });
  f.join(1);
  const text = 'q'.repeat(900);
  for (let i = 0; i < 10; i++) {
    f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: `b${i}`, text }), f.from(1));
  }
  const got = f.take(40001).map((o) => o['seq']);
  t.ok(got.length < 10 && got.length >= 2, `some were dropped (${got.length} left)`);
  t.same(got, Array.from({ length: got.length }, (_, i) => 11 - got.length + 1 + i), 'the newest survive, in order');
  t.ok(f.room.roster.get('m1')!.dropped > 0, 'drops are counted');
});

t.test('a restart reconciles the journal with the supervisor\'s roster', async (t) => {
  const { parseJournal } = await import('../rooms/journal.js');
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.join(3);
  // the old incarnation saw member 2 leave, but the notice died with it
  f.room.handleDatagram(f.dgram({ type: 'leave', token: f.record(2).token, id: 'bye' }), f.from(2));
  f.flush();
  const text = f.journal.lines.map((b) => b.toString() + '\n').join('');
  // the supervisor still lists 1 and 2, and removed 3 while the room was down
  const g = makeRoom();
  g.room.restore(parseJournal(text), [{ ...g.record(1), proven: true }, { ...g.record(2), proven: true }], [
    { tokenHash: g.record(2).tokenHash, address: '127.0.0.1', port: 40002, id: 'bye', at: g.clock.now() },
  ]);
  t.same(
    g.notices.filter((n) => n.type === 'departed'),
    [{ type: 'departed', member: 'm2' }],
    'the supervisor learns that m2 is gone',
  );
  t.same([...g.room.roster].map((m) => m.member), ['m1'], 'only m1 is restored');
  t.equal(g.room.seq, 5, 'a presence leave for m3 took the next seq');
  g.room.handleDatagram(g.dgram({ type: 'fetch', token: g.record(1).token, from: 5, to: 5 }), g.from(1));
  t.match(g.take(40001), [{ type: 'presence', seq: 5, event: 'leave', member: 'm3', nick: 'nick3' }, { type: 'fetched' }]);
  g.room.handleDatagram(g.dgram({ type: 'leave', token: g.record(2).token, id: 'bye' }), g.from(2));
  t.same(g.take(40002), [{ type: 'left', id: 'bye', room: 'first' }], 'a leave retried after the restart still gets left');
});

t.test('datagrams from port 0 (unanswerable, forged) are dropped before any work', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.room.handleDatagram(f.dgram({ type: 'hb', token: 'x'.repeat(40) }), { address: '127.0.0.1', port: 0 });
  f.flush();
  t.same(f.sent, [], 'nothing is sent');
});

t.test('a transport that throws for a stranger does not take the room down', async (t) => {
  const f = makeRoom();
  const orig = f.room['transport' as keyof typeof f.room] as unknown as { send: () => void };
  orig.send = () => {
    throw new Error('ERR_SOCKET_BAD_PORT');
  };
  t.doesNotThrow(() => f.room.handleDatagram(f.dgram({ type: 'hb', token: 'y'.repeat(40) }), f.from(9)));
});

t.test('a member over its say rate gets RATE_LIMITED, takes no seq, and may retry the same id later', async (t) => {
  const f = makeRoom({ sayRatePerSec: 10, sayBurst: 3 });
  f.join(1);
  const say = (id: string) => f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id, text: id }), f.from(1));
  for (const id of ['a', 'b', 'c', 'd']) say(id);
  const got = f.take(40001);
  // The refusal is queued at once; the turn's msgs when its journal write is done.
  t.same(got.map((o) => o['type']), ['error', 'msg', 'msg', 'msg'], 'the burst passes, the next is refused');
  t.match(got[0], { code: 'RATE_LIMITED', id: 'd' });
  t.equal(f.room.seq, 4, 'the refused say took no seq');
  f.clock.advance(100); // one token back at 10/s
  say('d');
  t.match(f.take(40001), [{ type: 'msg', id: 'd', seq: 5 }], 'the same id is accepted once there is room');
});

t.test('a flooding member gets a bounded number of RATE_LIMITED replies and others are unaffected', async (t) => {
  const f = makeRoom({ sayRatePerSec: 1, sayBurst: 1, requestRatePerSec: 1, requestBurst: 1 });
  f.join(1);
  f.join(2);
  f.settle();
  for (let i = 0; i < 1_000; i++) f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), f.from(1));
  const replies = f.take(40001);
  t.ok(replies.filter((o) => o['code'] === 'RATE_LIMITED').length <= 5, 'at most a few RATE_LIMITED replies per second');
  t.ok(replies.filter((o) => o['type'] === 'hb').length <= 1, 'the flood got at most its burst of answers');
  f.clock.advance(1_000); // member 2 spent its burst of 1 on its first hb
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(2).token }), f.from(2));
  t.match(f.take(40002), [{ type: 'hb' }], 'another member is served');
  t.equal(f.room.roster.size, 2, 'the flooder is limited, not evicted');
});

t.test('the room counts joins, says, leaves, evictions, refusals and drops, and reports them as a valid stats message', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 3, sayRatePerSec: 10, sayBurst: 2 });
  f.join(1);
  f.join(2);
  f.join(3);
  const say = (id: string) => f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id, text: id }), f.from(1));
  for (const id of ['a', 'b', 'c']) say(id);
  f.room.handleDatagram(Buffer.from('not json'), f.from(9));
  f.room.handleDatagram(f.dgram({ type: 'hb' }), f.from(9));
  f.room.handleDatagram(f.dgram({ type: 'hb', token: 'nobody-has-this-token-xxxxx' }), f.from(9));
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), { address: '127.0.0.1', port: 0 });
  f.room.handleDatagram(f.dgram({ type: 'leave', token: f.record(3).token, id: 'bye' }), f.from(3));
  f.settle();
  // member 2 falls silent; member 1 keeps its heartbeat
  for (let i = 0; i < 8; i++) {
    f.clock.advance(500);
    f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), f.from(1));
  }
  f.settle();
  const c = f.room.counters;
  t.match(c, { joins: 3, says: 2, leaves: 1, evictions: 1, rateLimitedSay: 1, rateLimitedRequest: 0 });
  t.match(c.dropped, { undecodable: 1, 'no-token': 1, 'not-member': 1, 'port-zero': 1 });
  t.ok(c.datagramsIn >= 16 && c.bytesIn > 0, `datagrams in: ${c.datagramsIn}`);
  const msg = statsMessage(f.room, 0);
  const parsed = StatsMsg.parse(msg);
  t.ok(parsed.ok, parsed.ok ? 'the stats message passes its schema' : parsed.message);
  t.match(msg, { members: 1, seq: f.room.seq, says: 2, evictions: 1 });
  t.ok(msg.deliveries >= 2 * 2, `each say reached both proven members (deliveries ${msg.deliveries})`);
  t.ok(msg.datagramsOut > 0 && msg.bytesOut > 0 && msg.rssBytes > 0 && msg.cpuUserUs > 0);
  // joins 3, the says with the leave that committed their turn 1, the eviction 1
  t.equal(msg.journalWrite.counts.reduce((a, b) => a + b, 0), 5, 'every journal write is timed');
});
