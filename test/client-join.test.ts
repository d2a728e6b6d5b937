// ChatClient.join() when the service is busy or slow: RATE_LIMITED and
// unanswered joins are retried by the library (new ids, jittered backoff);
// a `joined` that arrives after its request gave up is adopted while the
// client still wants the room and handed back (a leave with its token) when
// it does not. The test plays the service over an in-memory network; time
// is a ManualClock.
import t from 'tap';
import {
  CONTROL_PORT,
  MEMBER,
  MEMBER2,
  ROOM_PORT,
  TOKEN,
  TOKEN2,
  joinedReply,
  joins,
  kinds,
  makeClient,
  settle,
} from './helpers/client-net.js';

/** Jitter pinned at its middle: every delay is exact. */
const NO_JITTER = () => 0.5;
const NOT_MEMBER = { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room' };

function refuse(id: unknown, code: string) {
  return { type: 'error', code, message: code, id };
}

t.test('RATE_LIMITED and unanswered joins are tried again under new ids after a jittered backoff, until one gets in', async (t) => {
  // Each join request: 2 sends (at 0 and 250 ms), given up at 750 ms.
  const h = makeClient({ random: NO_JITTER, maxAttempts: 2, joinAttempts: 3 });
  const { client, net, clock } = h;
  let settled = false;
  const p = client.join('lobby', 'me').finally(() => (settled = true));
  const id1 = joins(net)[0]!['id'];
  net.deliver(CONTROL_PORT, refuse(id1, 'RATE_LIMITED'));
  clock.advance(250);
  t.same(joins(net).map((j) => j['id']), [id1, id1], 'RATE_LIMITED: the same request is resent on its schedule');
  clock.advance(500);
  await settle();
  t.notOk(settled, 'its sends spent, join() goes on');
  clock.advance(249);
  t.equal(joins(net).length, 2, 'after a backoff of 250 ms...');
  clock.advance(1);
  await settle();
  const id2 = joins(net)[2]!['id'];
  t.not(id2, id1, '...a new join request, under a new id');
  clock.advance(750); // unanswered: TIMEOUT
  await settle();
  clock.advance(500); // the backoff doubles
  await settle();
  const id3 = joins(net)[4]!['id'];
  t.equal(new Set([id1, id2, id3]).size, 3, 'a third id');
  net.deliver(CONTROL_PORT, joinedReply(String(id3), 'lobby', 4));
  const info = await p;
  t.match(info, { room: 'lobby', member: MEMBER, seq: 4 });
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('a final refusal ends join() at once; joinAttempts spent, it fails with the last error', async (t) => {
  const h = makeClient({ random: NO_JITTER, maxAttempts: 1, joinAttempts: 2 });
  const taken = h.client.join('lobby', 'me');
  h.net.deliver(CONTROL_PORT, refuse(joins(h.net)[0]!['id'], 'NICK_TAKEN'));
  await t.rejects(taken, { code: 'NICK_TAKEN' });
  t.equal(joins(h.net).length, 1, 'not retried');

  h.net.clear();
  const busy = t.rejects(h.client.join('lobby', 'me'), { code: 'TIMEOUT' }, 'the second and last request went unanswered');
  h.net.deliver(CONTROL_PORT, refuse(joins(h.net)[0]!['id'], 'ROOM_UNAVAILABLE'));
  await settle();
  h.clock.advance(250);
  await settle();
  h.clock.advance(250);
  await settle();
  await busy;
  t.equal(joins(h.net).length, 2);
  t.equal(h.clock.timerCount, 0, 'no timers left');
});

t.test('join resends are jittered by the injected random source', async (t) => {
  const h = makeClient({ random: () => 0, maxAttempts: 3 });
  void h.client.join('lobby', 'me').catch(() => {});
  h.clock.advance(199);
  t.equal(joins(h.net).length, 1);
  h.clock.advance(1);
  t.equal(joins(h.net).length, 2, 'the first resend after 250 ms x 0.8');
  h.clock.advance(399);
  t.equal(joins(h.net).length, 2);
  h.clock.advance(1);
  t.equal(joins(h.net).length, 3, 'the second after 500 ms x 0.8');
  void h.client.close({ leave: false });
});

t.test('a joined that comes after its request gave up is adopted while join() still runs', async (t) => {
  const h = makeClient({ random: NO_JITTER, maxAttempts: 2, joinAttempts: 5 });
  const { client, net, clock } = h;
  const p = client.join('lobby', 'me');
  const id1 = joins(net)[0]!['id'];
  clock.advance(750); // the first request gives up
  await settle();
  clock.advance(250);
  await settle();
  const id2 = joins(net).at(-1)!['id'];
  t.not(id2, id1, 'a second request is on the wire');
  net.deliver(CONTROL_PORT, joinedReply(String(id1), 'lobby', 4));
  const info = await p;
  t.match(info, { member: MEMBER, seq: 4 }, 'join() resolves with the late membership');
  t.match(net.last('hb', ROOM_PORT), { token: TOKEN }, 'and proves it at once');

  // The service replaced it with the second request's membership (it had
  // not proven itself yet): NOT_MEMBER for the first, then the second's joined.
  net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(client.joinedRooms(), ['lobby'], 'NOT_MEMBER while our own join is on the wire does not end the room');
  net.deliver(CONTROL_PORT, joinedReply(String(id2), 'lobby', 6, { token: TOKEN2, member: MEMBER2 }));
  await settle();
  t.same(kinds(h), ['rejoined'], 'the newer membership (higher seq) takes over');
  t.match(h.events[0], { seq: 6, previousSeq: 4 });
  t.match(net.last('hb', ROOM_PORT), { token: TOKEN2 });
  t.equal(net.of('leave').length, 0, 'nothing handed back');
});

t.test('a late joined older than the membership held is handed back; a duplicate or unknown one is ignored', async (t) => {
  const h = makeClient({ random: NO_JITTER, maxAttempts: 2, joinAttempts: 5 });
  const { client, net, clock } = h;
  const p = client.join('lobby', 'me');
  const id1 = joins(net)[0]!['id'];
  clock.advance(750);
  await settle();
  clock.advance(250);
  await settle();
  const id2 = joins(net).at(-1)!['id'];
  net.deliver(CONTROL_PORT, joinedReply(String(id2), 'lobby', 6, { token: TOKEN2, member: MEMBER2 }));
  t.match(await p, { member: MEMBER2, seq: 6 });
  net.deliver(CONTROL_PORT, joinedReply(String(id1), 'lobby', 4));
  await settle();
  t.match(net.of('leave', CONTROL_PORT), [{ room: 'lobby', token: TOKEN }], 'the older, replaced membership is handed back');
  net.deliver(CONTROL_PORT, joinedReply(String(id1), 'lobby', 4));
  net.deliver(CONTROL_PORT, joinedReply(String(id2), 'lobby', 6, { token: TOKEN2, member: MEMBER2 }));
  net.deliver(CONTROL_PORT, joinedReply('never-sent', 'lobby', 9, { token: 'tok_somebody_elses_token' }));
  await settle();
  t.equal(net.of('leave').length, 1, 'duplicates and strangers are ignored');
  t.same(kinds(h), [], 'no membership change');
});

t.test('a joined that comes after join() gave up is handed back at once', async (t) => {
  const h = makeClient({ random: NO_JITTER, maxAttempts: 2, joinAttempts: 1 });
  const p = t.rejects(h.client.join('lobby', 'me'), { code: 'TIMEOUT' });
  const id = joins(h.net)[0]!['id'];
  h.clock.advance(750);
  await p;
  h.net.deliver(CONTROL_PORT, joinedReply(String(id), 'lobby', 4));
  await settle();
  t.match(h.net.of('leave', CONTROL_PORT), [{ type: 'leave', room: 'lobby', token: TOKEN }], 'a leave with its token');
  t.equal(h.net.of('hb').length, 0, 'never proven');
  t.same(h.client.joinedRooms(), []);
});

t.test('joinAttempts is checked eagerly', async (t) => {
  t.throws(() => makeClient({ joinAttempts: 0 }), /`joinAttempts` to be an integer in 1\.\.1000/);
});
