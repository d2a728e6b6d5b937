// ChatClient resilience (autoRejoin): a lost membership (NOT_MEMBER, or
// `closed` `crashed`) is joined again with backoff; `closed` `shutdown` is
// not; leave() and close() stop it; a room restart's backlog is fetched one
// bounded request at a time. The test plays the service over an in-memory
// network, time is a ManualClock: nothing sleeps.
import t from 'tap';
import type { ChatClientOptions } from '../client/chat-client.js';
import { rejoinDelay } from '../client/rejoin.js';
import {
  CONTROL_PORT,
  MEMBER,
  ROOM_PORT,
  TOKEN,
  MEMBER2,
  TOKEN2,
  answerJoin,
  joinedReply,
  joins,
  kinds,
  makeClient,
  refuseJoin,
  msg,
  presence,
  settle,
  type Harness,
  type Obj,
} from './helpers/client-net.js';

/** Pins the jitter at zero, so every delay is exact. */
const NO_JITTER = () => 0.5;
const NOT_MEMBER = { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room' };

interface Joined extends Harness {
  /** The id of the application's own join. */
  firstJoinId: string;
}

/** A client with autoRejoin in `lobby` (own join at seq, key if given); the sent log is cleared. */
async function rejoinClient(
  opts: { seq?: number; key?: string; autoRejoin?: ChatClientOptions['autoRejoin'] } & Partial<ChatClientOptions> = {},
): Promise<Joined> {
  const { seq = 3, key, autoRejoin = true, ...rest } = opts;
  const h = makeClient({ autoRejoin, random: NO_JITTER, ...rest });
  const p = h.client.join('lobby', 'me', key === undefined ? {} : { key });
  const firstJoinId = String(h.net.last('join', CONTROL_PORT)['id']);
  h.net.deliver(CONTROL_PORT, joinedReply(firstJoinId, 'lobby', seq));
  await p;
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq });
  h.net.clear();
  return { ...h, firstJoinId };
}





t.test('eviction: after the backoff the client joins again with a new id; events flow from the new joined.seq', async (t) => {
  const h = await rejoinClient({ seq: 3 });
  const { client, net, clock, events } = h;
  net.deliver(ROOM_PORT, msg(4), msg(5), msg(7)); // 6 is missing: 7 is held
  t.same(h.seqs(), [4, 5]);
  net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(events.slice(2), [{ kind: 'rejoining', room: 'lobby', reason: 'evicted', attempt: 1, delayMs: 250 }], 'rejoining, not evicted');
  t.same(client.joinedRooms(), ['lobby'], 'still listed while rejoining');
  clock.advance(249);
  t.equal(joins(net).length, 0, 'not before the backoff');
  t.equal(net.of('hb').length + net.of('fetch').length, 0, 'the lost membership sends nothing more');
  clock.advance(1);
  t.equal(joins(net).length, 1);
  const join = net.last('join', CONTROL_PORT);
  t.match(join, { type: 'join', room: 'lobby', nick: 'me' });
  t.equal(join['key'], undefined, 'no key when the room had none');
  t.not(join['id'], h.firstJoinId, 'a new request id');
  await answerJoin(net, 20);
  t.same(events.at(-1), { kind: 'rejoined', room: 'lobby', seq: 20, previousSeq: 5 }, 'previousSeq is the last seq delivered in order');
  t.same(net.last('hb', ROOM_PORT), { type: 'hb', token: TOKEN2 }, 'the new membership proves its address at once');
  net.deliver(ROOM_PORT, msg(7), msg(19), msg(20), msg(21), presence(22));
  t.same(h.seqs(), [4, 5, 21, 22], 'delivery goes on after the new joined.seq only');
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 22 });
  clock.advance(5_000);
  t.same(net.of('fetch'), [], 'the old membership\'s missing events are not fetched');
  t.notOk(events.some((e) => e.kind === 'gap' || e.kind === 'evicted' || e.kind === 'membership-lost'), 'no gap is invented, no loss reported');
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('without autoRejoin (the library default) an eviction is reported and not re-joined', async (t) => {
  const h = await rejoinClient({ autoRejoin: false });
  h.net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(kinds(h), ['evicted', 'membership-lost']);
  h.clock.advance(60_000);
  t.same(joins(h.net), []);
  t.same(h.client.joinedRooms(), []);
  t.equal(h.clock.timerCount, 0);
});

t.test('closed crashed (from the control endpoint): the room is joined again, also on a new port with seq from 1', async (t) => {
  const h = await rejoinClient({ seq: 3, key: 'sesame' });
  const { client, net, clock, events } = h;
  net.deliver(ROOM_PORT, msg(4));
  net.deliver(CONTROL_PORT, { type: 'closed', room: 'lobby', reason: 'crashed' });
  t.same(events.slice(1), [{ kind: 'rejoining', room: 'lobby', reason: 'crashed', attempt: 1, delayMs: 250 }], 'no closed event');
  clock.advance(250);
  t.match(net.last('join', CONTROL_PORT), { room: 'lobby', nick: 'me', key: 'sesame' }, 'same nick and key');
  const NEW_PORT = ROOM_PORT + 7;
  await answerJoin(net, 1, { port: NEW_PORT, members: 1 });
  t.same(events.at(-1), { kind: 'rejoined', room: 'lobby', seq: 1, previousSeq: 4 });
  t.same(net.last('hb', NEW_PORT), { type: 'hb', token: TOKEN2 });
  net.deliver(ROOM_PORT, msg(5));
  net.deliver(NEW_PORT, msg(2), msg(3));
  t.same(h.seqs(), [4, 2, 3], 'the re-created room\'s events, from its own seq');
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('closed crashed from the room endpoint is re-joined too', async (t) => {
  const h = await rejoinClient();
  h.net.deliver(ROOM_PORT, { type: 'closed', room: 'lobby', reason: 'crashed' });
  t.same(kinds(h), ['rejoining']);
  h.clock.advance(250);
  t.equal(joins(h.net).length, 1);
});

t.test('closed shutdown is not re-joined: the service is going away', async (t) => {
  const h = await rejoinClient();
  h.net.deliver(CONTROL_PORT, { type: 'closed', room: 'lobby', reason: 'shutdown' });
  t.same(h.events, [{ kind: 'closed', room: 'lobby', reason: 'shutdown' }]);
  t.same(h.client.joinedRooms(), []);
  await t.rejects(h.client.say('lobby', 'x'), { code: 'NOT_JOINED' });
  h.clock.advance(60_000);
  t.same(joins(h.net), []);
  t.equal(h.clock.timerCount, 0);
});

t.test('NICK_TAKEN and ALREADY_JOINED (the old membership not yet gone) are retried with new ids, then it succeeds', async (t) => {
  const h = await rejoinClient({ seq: 8 });
  const { net, clock, events } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  clock.advance(250);
  await refuseJoin(net, 'NICK_TAKEN');
  t.same(events.at(-1), { kind: 'rejoining', room: 'lobby', reason: 'evicted', attempt: 2, delayMs: 500 });
  clock.advance(499);
  t.equal(joins(net).length, 1);
  clock.advance(1);
  t.equal(joins(net).length, 2);
  await refuseJoin(net, 'ALREADY_JOINED');
  t.same(events.at(-1), { kind: 'rejoining', room: 'lobby', reason: 'evicted', attempt: 3, delayMs: 1_000 });
  clock.advance(1_000);
  t.equal(joins(net).length, 3);
  t.equal(new Set(joins(net).map((j) => j['id'])).size, 3, 'every attempt is its own request');
  await answerJoin(net, 12);
  t.same(events.at(-1), { kind: 'rejoined', room: 'lobby', seq: 12, previousSeq: 8 });
  // The room answers the new membership's hb (a silent room would be probed with a join: client-probe.test.ts).
  for (let ms = 0; ms < 60_000; ms += 500) {
    net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 12 });
    clock.advance(500);
  }
  t.equal(joins(net).length, 3, 'no attempt after success');
  t.same(h.client.joinedRooms(), ['lobby']);
});

t.test('BAD_KEY is final: rejoin-failed, the room is dropped, waiting say()s fail with NOT_JOINED', async (t) => {
  const h = await rejoinClient({ key: 'sesame' });
  const { client, net, clock, events } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  const say = client.say('lobby', 'waiting');
  const rejected = t.rejects(say, { code: 'NOT_JOINED' });
  clock.advance(250);
  t.equal(net.last('join', CONTROL_PORT)['key'], 'sesame');
  await refuseJoin(net, 'BAD_KEY');
  await rejected;
  t.same(events, [
    { kind: 'rejoining', room: 'lobby', reason: 'evicted', attempt: 1, delayMs: 250 },
    { kind: 'rejoin-failed', room: 'lobby', code: 'BAD_KEY' },
  ]);
  t.same(client.joinedRooms(), []);
  t.equal(net.of('say').length, 0, 'nothing was sent without a membership');
  clock.advance(60_000);
  t.equal(joins(net).length, 1, 'no retry after a final refusal');
  t.equal(clock.timerCount, 0);
  await t.rejects(client.say('lobby', 'later'), { code: 'NOT_JOINED' });
});

t.test('maxAttempts spent: rejoin-failed with the last error, say() rejects NOT_JOINED, no timers left', async (t) => {
  const h = await rejoinClient({ autoRejoin: { maxAttempts: 3 } });
  const { client, net, clock, events } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  const say = client.say('lobby', 'hello?');
  const rejected = t.rejects(say, { code: 'NOT_JOINED' });
  for (const delay of [250, 500, 1_000]) {
    clock.advance(delay);
    await refuseJoin(net, 'NICK_TAKEN');
  }
  await rejected;
  t.equal(joins(net).length, 3);
  t.same(events.map((e) => (e.kind === 'rejoining' ? e.attempt : e.kind)), [1, 2, 3, 'rejoin-failed']);
  t.same(events.at(-1), { kind: 'rejoin-failed', room: 'lobby', code: 'NICK_TAKEN' });
  t.same(client.joinedRooms(), []);
  await t.rejects(client.say('lobby', 'again'), { code: 'NOT_JOINED' });
  t.equal(clock.timerCount, 0);
  clock.advance(60_000);
  t.equal(joins(net).length, 3);
});

t.test('an attempt that times out counts as an attempt and is retried', async (t) => {
  const h = await rejoinClient({ maxAttempts: 2, retryInitialMs: 100, autoRejoin: { maxAttempts: 2 } });
  const { net, clock, events } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  clock.advance(250);
  t.equal(joins(net).length, 1);
  clock.advance(100);
  t.equal(joins(net).length, 2, 'the join request is retried with its own id');
  t.equal(joins(net)[1]!['id'], joins(net)[0]!['id']);
  clock.advance(200);
  await settle();
  t.same(events.at(-1), { kind: 'rejoining', room: 'lobby', reason: 'evicted', attempt: 2, delayMs: 500 });
  clock.advance(500 + 300);
  await settle();
  t.same(events.at(-1), { kind: 'rejoin-failed', room: 'lobby', code: 'TIMEOUT' });
  t.equal(new Set(joins(net).map((j) => j['id'])).size, 2);
});

t.test('say() waits out a rejoin: sent at once under the new token, acked by the new member', async (t) => {
  const h = await rejoinClient({ seq: 3 });
  const { client, net, clock } = h;
  // One say in flight when the room answers it with NOT_MEMBER, one made during the rejoin.
  const before = client.say('lobby', 'in flight');
  const beforeId = net.last('say', ROOM_PORT)['id'];
  t.equal(net.last('say')['token'], TOKEN);
  net.deliver(ROOM_PORT, { ...NOT_MEMBER, id: beforeId });
  t.same(kinds(h), ['rejoining'], 'the say is not failed: the membership is re-joined');
  const during = client.say('lobby', 'during');
  clock.advance(249);
  t.equal(net.of('say').length, 1, 'nothing is sent while there is no membership');
  clock.advance(1);
  await answerJoin(net, 10);
  const resent = net.of('say').slice(1);
  t.equal(resent.length, 2, 'both go out as soon as the new membership exists');
  t.ok(resent.every((s) => s['token'] === TOKEN2));
  t.equal(resent.find((s) => s['text'] === 'in flight')?.['id'], beforeId, 'the say in flight keeps its id');
  const duringId = resent.find((s) => s['text'] === 'during')?.['id'];
  // An echo from the old membership is no ack; the new member's echo is.
  net.deliver(ROOM_PORT, msg(11, { id: beforeId, member: MEMBER, nick: 'me', text: 'in flight' }));
  net.deliver(ROOM_PORT, msg(12, { id: beforeId, member: MEMBER2, nick: 'me', text: 'in flight' }));
  net.deliver(ROOM_PORT, msg(13, { id: duringId, member: MEMBER2, nick: 'me', text: 'during' }));
  t.match(await before, { seq: 12, member: MEMBER2 });
  t.match(await during, { seq: 13, member: MEMBER2 });
});

t.test('a late NOT_MEMBER answering a datagram of the old membership does not end the new one', async (t) => {
  const h = await rejoinClient();
  const { client, net, clock } = h;
  const say = client.say('lobby', 'x');
  const id = net.last('say')['id'];
  net.deliver(ROOM_PORT, NOT_MEMBER);
  clock.advance(250);
  await answerJoin(net, 10);
  t.equal(net.last('say')['token'], TOKEN2);
  net.deliver(ROOM_PORT, { ...NOT_MEMBER, id }); // answers the send with the old token
  t.same(kinds(h), ['rejoining', 'rejoined']);
  t.same(client.joinedRooms(), ['lobby']);
  net.deliver(ROOM_PORT, msg(11, { id, member: MEMBER2, nick: 'me' }));
  t.match(await say, { seq: 11 });
  // A NOT_MEMBER to the new membership's hb is believed.
  net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(kinds(h), ['rejoining', 'rejoined', 'message', 'rejoining']);
});

t.test('leave() while waiting to rejoin stops it: no join goes out, no timers', async (t) => {
  const h = await rejoinClient();
  const { client, net, clock } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  const say = client.say('lobby', 'x');
  const rejected = t.rejects(say, { code: 'NOT_JOINED' });
  await client.leave('lobby');
  await rejected;
  t.same(client.joinedRooms(), []);
  clock.advance(60_000);
  t.same(joins(net), []);
  t.equal(clock.timerCount, 0);
  t.same(kinds(h), ['rejoining'], 'no rejoin-failed: the application asked');
  // The room can be joined again by hand.
  const again = client.join('lobby', 'me');
  await answerJoin(net, 30);
  t.match(await again, { seq: 30 });
});

t.test('leave() during a join attempt waits for it and leaves the membership it brings', async (t) => {
  const h = await rejoinClient();
  const { client, net, clock } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  clock.advance(250);
  t.equal(joins(net).length, 1);
  let left = false;
  const leaving = client.leave('lobby').then(() => (left = true));
  t.same(client.joinedRooms(), []);
  await t.rejects(client.join('lobby', 'me'), { code: 'ALREADY_JOINED' }, 'not while the leave runs');
  await answerJoin(net, 10);
  await settle();
  t.equal(left, false);
  const leave = net.last('leave', ROOM_PORT);
  t.match(leave, { type: 'leave', token: TOKEN2 });
  net.deliver(ROOM_PORT, { type: 'left', id: leave['id'], room: 'lobby' });
  await leaving;
  t.same(kinds(h), ['rejoining'], 'no rejoined');
  t.same(client.joinedRooms(), []);
  clock.advance(60_000);
  t.equal(joins(net).length, 1);
  t.equal(clock.timerCount, 0);
});

t.test('close() while waiting to rejoin leaves no timers and sends nothing', async (t) => {
  const h = await rejoinClient();
  const { client, net, clock } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  const say = client.say('lobby', 'x');
  const rejected = t.rejects(say, { code: 'CLOSED' });
  t.ok(clock.timerCount > 0);
  await client.close();
  await rejected;
  t.equal(clock.timerCount, 0);
  t.equal(net.closed, true);
  t.same(net.sent, []);
});

t.test('close() during a join attempt abandons it and leaves no timers', async (t) => {
  const h = await rejoinClient();
  const { client, net, clock } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  clock.advance(250);
  t.equal(joins(net).length, 1);
  await client.close();
  t.equal(clock.timerCount, 0);
  await answerJoin(net, 10); // too late: the client is closed
  await settle();
  t.equal(clock.timerCount, 0);
  t.same(kinds(h), ['rejoining']);
});

t.test('a loss while close() is leaving the room is not re-joined', async (t) => {
  const h = await rejoinClient({ closeTimeoutMs: 500 });
  const { client, net, clock } = h;
  const closing = client.close();
  t.equal(net.of('leave', ROOM_PORT).length, 1);
  net.deliver(CONTROL_PORT, { type: 'closed', room: 'lobby', reason: 'crashed' });
  await closing;
  t.same(kinds(h), ['closed']);
  t.equal(clock.timerCount, 0);
  t.same(joins(net), []);
});

t.test('backoff: delays double from initialMs and are capped at maxMs; the defaults give up after 10 attempts', async (t) => {
  const h = await rejoinClient({ autoRejoin: true });
  const { net, clock, events } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  const expected = [250, 500, 1_000, 2_000, 4_000, 5_000, 5_000, 5_000, 5_000, 5_000];
  for (const [i, delay] of expected.entries()) {
    clock.advance(delay - 1);
    t.equal(joins(net).length, i, `attempt ${i + 1} not before ${delay} ms`);
    clock.advance(1);
    t.equal(joins(net).length, i + 1, `attempt ${i + 1} at ${delay} ms`);
    await refuseJoin(net, 'ROOM_FULL');
  }
  t.same(events.flatMap((e) => (e.kind === 'rejoining' ? [e.delayMs] : [])), expected);
  t.same(events.at(-1), { kind: 'rejoin-failed', room: 'lobby', code: 'ROOM_FULL' });
});

t.test('backoff: ±20% jitter from the injected random, never above maxMs', async (t) => {
  // Draws alternate with the jitter of the join request's resends (0.5: none),
  // which comes first: the initial join's resends took one.
  const draws = [0.5, 0, 0.5, 0.999_999, 0.5, 0.25, 0.5, 0, 0.5, 0.999_999, 0.5, 0];
  const h = await rejoinClient({ autoRejoin: { initialMs: 100, maxMs: 500, maxAttempts: 6 }, random: () => draws.shift() ?? 0.5 });
  const { net, clock, events } = h;
  net.deliver(ROOM_PORT, NOT_MEMBER);
  for (let i = 0; i < 6; i++) {
    const e = events.at(-1)!;
    if (e.kind !== 'rejoining') return t.fail(`expected rejoining, got ${e.kind}`);
    clock.advance(e.delayMs - 1);
    t.equal(joins(net).length, i, 'waits the reported delay');
    clock.advance(1);
    await refuseJoin(net, 'NICK_TAKEN');
  }
  // base 100, 200, 400, 500, 500, 500; factor 0.8 + 0.4 x draw; capped at 500
  t.same(events.flatMap((e) => (e.kind === 'rejoining' ? [e.delayMs] : [])), [80, 240, 360, 400, 500, 400]);
  t.equal(rejoinDelay({ initialMs: 250, maxMs: 5_000, maxAttempts: 10 }, 1, () => 0), 200);
  t.equal(rejoinDelay({ initialMs: 250, maxMs: 5_000, maxAttempts: 10 }, 1, () => 0.999_999), 300);
  t.equal(rejoinDelay({ initialMs: 250, maxMs: 5_000, maxAttempts: 10 }, 30, () => 0.999_999), 5_000, 'no overflow past the cap');
});

t.test('a listener that leaves from rejoining stops the rejoin at once', async (t) => {
  const h = await rejoinClient();
  h.client.on('rejoining', (r) => void h.client.leave(r.room));
  h.net.deliver(ROOM_PORT, NOT_MEMBER);
  await settle();
  t.equal(h.clock.timerCount, 0, 'no backoff timer was armed');
  h.clock.advance(60_000);
  t.same(joins(h.net), []);
  t.same(h.client.joinedRooms(), []);
  t.equal(h.clock.timerCount, 0);
});

t.test('autoRejoin options are checked eagerly, naming the option', async (t) => {
  t.throws(() => makeClient({ autoRejoin: 'yes' as never }), /`autoRejoin` to be a boolean or an object/);
  t.throws(() => makeClient({ autoRejoin: { initialMs: 0 } }), /`autoRejoin\.initialMs`/);
  t.throws(() => makeClient({ autoRejoin: { initialMs: 1_000, maxMs: 500 } }), /`autoRejoin\.maxMs` to be an integer in 1000\.\./);
  t.throws(() => makeClient({ autoRejoin: { maxAttempts: 1.5 } }), /`autoRejoin\.maxAttempts`/);
  t.throws(() => makeClient({ autoRejoin: { factor: 3 } as never }), /Unknown option `autoRejoin\.factor`/);
  t.throws(() => makeClient({ random: 0.5 as never }), /`random` to be a function/);
  t.doesNotThrow(() => makeClient({ autoRejoin: { initialMs: 10_000 } }), 'maxMs follows a large initialMs');
});

t.test('a room restart (no loss of membership): the backlog is fetched one request at a time, 256 at most, and a gap is reported', async (t) => {
  const h = await rejoinClient({ seq: 3 });
  const { net, clock, events } = h;
  let inFlight = 0;
  const fetches = () => net.of('fetch', ROOM_PORT);
  // The restarted room's first hb reply shows it moved on, and live events arrive on top.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 700 });
  net.deliver(ROOM_PORT, msg(701));
  t.same(fetches(), [{ type: 'fetch', from: 4, to: 259, token: TOKEN }]);
  inFlight = 1;
  // More hb replies and the reorder wait start nothing while a fetch is in flight.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 701 });
  net.deliver(ROOM_PORT, msg(703));
  clock.advance(100);
  t.equal(fetches().length, inFlight, 'one fetch in flight');
  // The room no longer holds 4..100: gap, then the held events, then fetched.
  const answer: Obj[] = [{ type: 'gap', room: 'lobby', from: 4, to: 100 }];
  for (let s = 101; s <= 259; s++) answer.push(msg(s));
  answer.push({ type: 'fetched', room: 'lobby', from: 4, to: 259 });
  net.deliver(ROOM_PORT, ...answer);
  t.same(fetches().at(-1), { type: 'fetch', from: 260, to: 515, token: TOKEN }, 'the next range follows at once');
  for (let s = 260; s <= 515; s++) net.deliver(ROOM_PORT, msg(s));
  net.deliver(ROOM_PORT, { type: 'fetched', room: 'lobby', from: 260, to: 515 });
  t.same(fetches().at(-1), { type: 'fetch', from: 516, to: 700, token: TOKEN }, 'up to the first event held');
  for (let s = 516; s <= 700; s++) net.deliver(ROOM_PORT, msg(s));
  net.deliver(ROOM_PORT, { type: 'fetched', room: 'lobby', from: 516, to: 700 });
  t.same(fetches().at(-1), { type: 'fetch', from: 702, to: 702, token: TOKEN }, 'then the last hole');
  net.deliver(ROOM_PORT, msg(702), { type: 'fetched', room: 'lobby', from: 702, to: 702 });
  t.ok(fetches().every((f) => Number(f['to']) - Number(f['from']) + 1 <= 256), 'no request above 256 seqs');
  t.equal(fetches().length, 4);
  t.same(events.filter((e) => e.kind === 'gap'), [{ kind: 'gap', from: 4, to: 100 }], 'the gap is reported once');
  t.same(h.seqs(), Array.from({ length: 703 - 100 }, (_, i) => i + 101), 'every held event once, in order');
  t.notOk(events.some((e) => e.kind.startsWith('rejoin')), 'a restart is no loss of membership');
  clock.advance(10_000);
  t.equal(fetches().length, 4, 'nothing more to fetch');
});
