// ChatClient delivery: in seq order, exactly once, holes fetched, gaps
// reported. The test plays the room over an in-memory network.
import t from 'tap';
import { CONTROL_PORT, ROOM_PORT, TOKEN, joinedClient, joinedReply, makeClient, msg, presence } from './helpers/client-net.js';

t.test('the first hb goes out right after joined, then one per heartbeatMs once answered', async (t) => {
  const { net, clock } = await joinedClient();
  // joinedClient cleared the log after the first hb (sent at t=0); look at what follows.
  t.equal(net.of('hb').length, 0);
  clock.advance(250);
  t.same(net.of('hb', ROOM_PORT), [{ type: 'hb', token: TOKEN }], 'unanswered first hb is resent on the request backoff');
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  net.clear();
  clock.advance(749);
  t.equal(net.of('hb').length, 0, 'no hb before the period (from the round start) is over');
  clock.advance(1);
  t.equal(net.of('hb').length, 1, 'one hb at heartbeatMs');
  for (let i = 0; i < 3; i++) {
    net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 }); // answered at once
    clock.advance(1_000);
  }
  t.equal(net.of('hb').length, 4, 'answered hbs: exactly one per period');
});

t.test('unanswered hbs are resent within the period, and a silent room is reported once', async (t) => {
  const { client, net, clock } = await joinedClient();
  const events: string[] = [];
  client.on('unresponsive', ({ room }) => events.push(`unresponsive ${room}`));
  client.on('responsive', ({ room }) => events.push(`responsive ${room}`));
  clock.advance(1_000);
  const inFirstPeriod = net.of('hb').length;
  t.ok(inFirstPeriod >= 2, `a lost hb is retried before the next period (${inFirstPeriod} sent)`);
  t.ok(inFirstPeriod <= 4, 'on the request backoff, not a flood');
  clock.advance(1_999);
  t.same(events, [], 'not before 3 periods without a reply');
  clock.advance(501); // the next resend after the 3 periods notices
  t.same(events, ['unresponsive lobby'], 'reported after 3 periods without a reply');
  const sent = net.of('hb').length;
  clock.advance(10_000);
  t.ok(net.of('hb').length - sent <= 10_000 / 500 + 1, 'while silent, at most one hb per half period');
  t.same(events, ['unresponsive lobby'], 'reported once');
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.same(events, ['unresponsive lobby', 'responsive lobby'], 'and again when it answers');
});

t.test('the first hb is sent as soon as the join is answered', async (t) => {
  const { client, net } = makeClient();
  const p = client.join('lobby', 'me');
  net.deliver(CONTROL_PORT, joinedReply(String(net.last('join')['id']), 'lobby', 1));
  await p;
  t.same(net.of('hb', ROOM_PORT), [{ type: 'hb', token: TOKEN }]);
});

t.test('suspendHeartbeats stops hb for that room', async (t) => {
  const { client, net, clock } = await joinedClient();
  client.suspendHeartbeats('lobby');
  clock.advance(60_000);
  t.equal(net.of('hb').length, 0);
});

t.test('out-of-order events are delivered in seq order', async (t) => {
  const { net, clock, seqs } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, msg(6));
  net.deliver(ROOM_PORT, presence(5));
  t.same(seqs(), [], 'nothing before the hole at 4 is filled');
  net.deliver(ROOM_PORT, msg(4));
  t.same(seqs(), [4, 5, 6]);
  clock.advance(1_000);
  t.equal(net.of('fetch').length, 0, 'a hole filled in time is not fetched');
});

t.test('duplicates are delivered once', async (t) => {
  const { net, seqs, events } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, msg(4));
  net.deliver(ROOM_PORT, msg(4));
  net.deliver(ROOM_PORT, msg(6));
  net.deliver(ROOM_PORT, msg(6));
  net.deliver(ROOM_PORT, msg(5));
  net.deliver(ROOM_PORT, msg(3), msg(5), msg(4));
  t.same(seqs(), [4, 5, 6]);
  t.equal(events.length, 3);
});

t.test('events at or before our own join are not delivered', async (t) => {
  const { net, seqs } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, msg(1), msg(2), presence(3));
  t.same(seqs(), []);
});

t.test('a hole not filled within reorderWaitMs is fetched, and the fetched events are delivered', async (t) => {
  const { net, clock, seqs } = await joinedClient('lobby', 3, { reorderWaitMs: 50 });
  net.deliver(ROOM_PORT, msg(7));
  clock.advance(49);
  t.equal(net.of('fetch').length, 0, 'not before reorderWaitMs');
  clock.advance(1);
  t.same(net.of('fetch', ROOM_PORT), [{ type: 'fetch', from: 4, to: 6, token: TOKEN }], 'fetches exactly the hole');
  net.deliver(ROOM_PORT, msg(4), msg(5), presence(6), { type: 'fetched', room: 'lobby', from: 4, to: 6 });
  t.same(seqs(), [4, 5, 6, 7]);
  clock.advance(10_000);
  t.equal(net.of('fetch').length, 1, 'nothing left to fetch');
});

t.test('a fetch with no answer is retried, bounded by maxAttempts', async (t) => {
  const { net, clock } = await joinedClient('lobby', 3, { maxAttempts: 3, retryInitialMs: 100 });
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 }); // proven: hb now every heartbeatMs
  net.deliver(ROOM_PORT, msg(5));
  clock.advance(50);
  t.equal(net.of('fetch').length, 1);
  clock.advance(100);
  t.equal(net.of('fetch').length, 2);
  t.same(net.of('fetch')[1], net.of('fetch')[0], 'the retry asks for the same range');
  clock.advance(200);
  t.equal(net.of('fetch').length, 3);
  clock.advance(400);
  t.equal(net.of('fetch').length, 3, 'gives up after maxAttempts');
  // The next hb reply starts it again.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 5 });
  t.equal(net.of('fetch').length, 4);
});

t.test('a fetch retry after part of the range arrived asks only for the rest', async (t) => {
  const { net, clock } = await joinedClient('lobby', 3, { maxAttempts: 4, retryInitialMs: 100 });
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 9 }); // the tail 4..9 is fetched at once
  t.same(net.last('fetch'), { type: 'fetch', from: 4, to: 9, token: TOKEN });
  net.deliver(ROOM_PORT, msg(4), msg(5)); // the rest of the reply, and its `fetched`, are lost
  clock.advance(100);
  t.equal(net.of('fetch').length, 2);
  t.same(net.last('fetch'), { type: 'fetch', from: 6, to: 9, token: TOKEN }, 'the retry starts after what arrived');
  clock.advance(200 + 400 + 800);
  t.equal(net.of('fetch').length, 4, 'the narrowed fetch keeps the tries already spent: still bounded by maxAttempts');
  net.deliver(ROOM_PORT, msg(6), msg(7), msg(8), msg(9), { type: 'fetched', room: 'lobby', from: 6, to: 9 });
  clock.advance(5_000);
  t.equal(net.of('fetch').length, 4, 'nothing left to fetch');
});

t.test('an hb reply with a higher seq fetches the tail at once', async (t) => {
  const { net, seqs } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.equal(net.of('fetch').length, 0, 'nothing to fetch when up to date');
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 6 });
  t.same(net.of('fetch'), [{ type: 'fetch', from: 4, to: 6, token: TOKEN }]);
  net.deliver(ROOM_PORT, msg(4), msg(5), msg(6), { type: 'fetched', room: 'lobby', from: 4, to: 6 });
  t.same(seqs(), [4, 5, 6]);
});

t.test('a long tail is fetched 256 seqs at a time', async (t) => {
  const { net, seqs } = await joinedClient('lobby', 0);
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 300 });
  t.same(net.last('fetch'), { type: 'fetch', from: 1, to: 256, token: TOKEN });
  for (let s = 1; s <= 256; s++) net.deliver(ROOM_PORT, msg(s));
  net.deliver(ROOM_PORT, { type: 'fetched', room: 'lobby', from: 1, to: 256 });
  t.same(net.last('fetch'), { type: 'fetch', from: 257, to: 300, token: TOKEN }, 'the next range follows at once');
  for (let s = 257; s <= 300; s++) net.deliver(ROOM_PORT, msg(s));
  net.deliver(ROOM_PORT, { type: 'fetched', room: 'lobby', from: 257, to: 300 });
  t.same(seqs(), Array.from({ length: 300 }, (_, i) => i + 1));
});

t.test('a gap from the server is reported in order and skipped', async (t) => {
  const { net, events, clock } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 9 });
  t.same(net.last('fetch'), { type: 'fetch', from: 4, to: 9, token: TOKEN });
  net.deliver(ROOM_PORT, { type: 'gap', room: 'lobby', from: 4, to: 6 }, msg(7), msg(8), msg(9), { type: 'fetched', room: 'lobby', from: 4, to: 9 });
  t.same(events, [
    { kind: 'gap', from: 4, to: 6 },
    { kind: 'message', seq: 7, text: 'm7' },
    { kind: 'message', seq: 8, text: 'm8' },
    { kind: 'message', seq: 9, text: 'm9' },
  ]);
  clock.advance(5_000);
  t.equal(net.of('fetch').length, 1, 'the gap is not fetched again');
});

t.test('events after a lost range wait for the gap, then follow it', async (t) => {
  const { net, events } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, msg(8));
  net.deliver(ROOM_PORT, { type: 'gap', room: 'lobby', from: 4, to: 7 });
  t.same(events, [
    { kind: 'gap', from: 4, to: 7 },
    { kind: 'message', seq: 8, text: 'm8' },
  ]);
});

t.test('NDJSON datagrams are split and handled in order; invalid objects are dropped', async (t) => {
  const { net, seqs, events } = await joinedClient('lobby', 3);
  net.deliver(
    ROOM_PORT,
    msg(5),
    'not json',
    { type: 'msg', room: 'lobby', seq: 'x' },
    { type: 'warp', room: 'lobby', seq: 4 },
    msg(4, { text: 'first' }),
    presence(6, 'leave'),
  );
  t.same(seqs(), [4, 5, 6]);
  t.equal(events[0]?.kind === 'message' && events[0].text, 'first');
});

t.test('datagrams from other ports or hosts, or naming another room, are ignored', async (t) => {
  const { net, seqs } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT + 1, msg(4));
  net.deliverFrom({ address: '10.9.9.9', port: ROOM_PORT }, msg(4));
  net.deliver(ROOM_PORT, msg(4, {}, 'elsewhere'));
  net.deliver(CONTROL_PORT, msg(4));
  t.same(seqs(), []);
  net.deliver(ROOM_PORT, msg(4));
  t.same(seqs(), [4]);
});

t.test('a throwing listener does not stop delivery', async (t) => {
  const { client, net, seqs } = await joinedClient('lobby', 3);
  const errors: Error[] = [];
  client.on('error', (e) => errors.push(e));
  client.once('message', () => {
    throw new Error('listener bug');
  });
  net.deliver(ROOM_PORT, msg(4), msg(5));
  t.same(seqs(), [4, 5]);
  t.equal(errors[0]?.message, 'listener bug');
});
