// ChatClient requests: retried with the same id, matched by id, bounded by
// maxAttempts; leave falls back to the control endpoint; close() cleans up.
import t from 'tap';
import { ChatClient, ClientError } from '../client/chat-client.js';
import { CONTROL_PORT, MEMBER, ROOM_PORT, TOKEN, joinedClient, joinedReply, makeClient, msg, settle } from './helpers/client-net.js';

t.test('join sends one join and resolves with the joined fields', async (t) => {
  const { client, net } = makeClient();
  const p = client.join('lobby', 'me', { key: 'sesame' });
  const join = net.last('join', CONTROL_PORT);
  t.match(join, { type: 'join', room: 'lobby', nick: 'me', key: 'sesame' });
  t.ok(typeof join['id'] === 'string' && join['id'].length >= 1 && join['id'].length <= 64, 'id of 1-64 characters');
  net.deliver(CONTROL_PORT, joinedReply(String(join['id']), 'lobby', 7, { members: 3 }));
  t.same(await p, { room: 'lobby', member: MEMBER, nick: 'me', port: ROOM_PORT, members: 3, seq: 7, heartbeatMs: 1_000 });
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('say is retried with the same id until acked, and resolves with the echo', async (t) => {
  const { client, net, clock, events } = await joinedClient('lobby', 3);
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  const p = client.say('lobby', 'hello');
  clock.advance(250);
  clock.advance(500);
  const says = net.of('say', ROOM_PORT);
  t.equal(says.length, 3, 'first send and two retries');
  const id = says[0]!['id'];
  t.ok(says.every((s) => s['id'] === id && s['text'] === 'hello' && s['token'] === TOKEN), 'every attempt is the same request');
  // Another member's message with the same id is not our ack.
  net.deliver(ROOM_PORT, msg(4, { id }));
  const echo = msg(5, { id, member: MEMBER, nick: 'me', text: 'hello' });
  net.deliver(ROOM_PORT, echo);
  t.same(await p, echo);
  t.same(events.map((e) => e.kind === 'message' && e.seq), [4, 5], 'the echo is delivered as a message too, once');
  clock.advance(10_000);
  t.equal(net.of('say').length, 3, 'no retry after the ack');
});

t.test('a request is rejected with ClientError by an error reply with its id', async (t) => {
  const { client, net } = makeClient();
  const p = client.join('lobby', 'me', { key: 'wrong' });
  const id = String(net.last('join')['id']);
  net.deliver(ROOM_PORT, { type: 'error', code: 'BAD_KEY', message: 'from the wrong port', id });
  net.deliver(CONTROL_PORT, { type: 'error', code: 'BAD_KEY', message: 'wrong room key', id: 'someone-else' });
  net.deliver(CONTROL_PORT, { type: 'error', code: 'BAD_KEY', message: 'wrong room key', id });
  const err = await p.catch((e: unknown) => e);
  t.ok(err instanceof ClientError);
  t.match(err, { code: 'BAD_KEY', message: 'wrong room key' });
  t.same(client.joinedRooms(), []);
});

t.test('a say refused by the room rejects with its code', async (t) => {
  const { client, net } = await joinedClient();
  const p = client.say('lobby', 'x'.repeat(10));
  net.deliver(ROOM_PORT, { type: 'error', code: 'TOO_LARGE', message: 'too large', id: net.last('say')['id'] });
  await t.rejects(p, { code: 'TOO_LARGE' });
});

t.test('a RATE_LIMITED say is retried with the same id on the backoff, and succeeds when the room has room', async (t) => {
  const { client, net, clock } = await joinedClient();
  const p = client.say('lobby', 'patience');
  const id = net.last('say')['id'];
  net.deliver(ROOM_PORT, { type: 'error', code: 'RATE_LIMITED', message: 'slow down', id });
  net.clear();
  clock.advance(250);
  t.equal(net.last('say')['id'], id, 'resent with the same id');
  net.deliver(ROOM_PORT, { type: 'msg', room: 'lobby', seq: 4, member: MEMBER, nick: 'me', text: 'patience', ts: 1, id });
  t.match(await p, { id, seq: 4 });
});

t.test('a say still RATE_LIMITED when its attempts run out fails with RATE_LIMITED, not TIMEOUT', async (t) => {
  const { client, net, clock } = await joinedClient();
  const p = client.say('lobby', 'spam');
  const rejected = t.rejects(p, { code: 'RATE_LIMITED' });
  for (let i = 0; i < 20; i++) {
    const last = net.last('say');
    if (last) net.deliver(ROOM_PORT, { type: 'error', code: 'RATE_LIMITED', message: 'slow down', id: last['id'] });
    clock.advance(2_000);
  }
  await rejected;
});

t.test('a request with no answer fails with TIMEOUT after maxAttempts', async (t) => {
  const { client, net, clock } = makeClient({ maxAttempts: 3, retryInitialMs: 250 });
  let settled = false;
  const p = client.ping().finally(() => (settled = true));
  const rejected = t.rejects(p, { code: 'TIMEOUT' });
  clock.advance(250 + 500 + 999);
  await Promise.resolve();
  t.equal(settled, false, 'still waiting for the last attempt');
  t.equal(net.of('ping').length, 3);
  t.equal(new Set(net.of('ping').map((o) => o['id'])).size, 1, 'all attempts share one id');
  clock.advance(1);
  await rejected;
  t.equal(net.of('ping').length, 3, 'no attempt beyond maxAttempts');
});

t.test('retry delays double and are capped at 2000 ms', async (t) => {
  const { client, net, clock } = makeClient({ maxAttempts: 8 });
  const sentAt: number[] = [];
  const start = clock.now();
  const p = client.ping();
  p.catch(() => {});
  for (let ms = 0; ms <= 12_000; ms += 10) {
    const before = net.of('ping').length;
    if (ms > 0) clock.advance(10);
    if (net.of('ping').length > before || ms === 0) sentAt.push(clock.now() - start);
  }
  t.same(sentAt, [0, 250, 750, 1_750, 3_750, 5_750, 7_750, 9_750]);
  await t.rejects(p, { code: 'TIMEOUT' });
});

t.test('ping resolves with the round trip', async (t) => {
  const { client, net, clock } = makeClient();
  const p = client.ping();
  clock.advance(30);
  net.deliver(CONTROL_PORT, { type: 'pong', id: net.last('ping')['id'] });
  t.equal(await p, 30);
});

t.test('rooms collects every page, padding requests to a third of the datagram limit', async (t) => {
  const { client, net } = makeClient();
  const p = client.rooms();
  await Promise.resolve();
  const first = net.sent.at(-1)!;
  t.equal(first.bytes, 400, 'padded so the 3x budget is a full 1200-byte datagram');
  t.equal(first.obj['after'], undefined);
  net.deliver(CONTROL_PORT, { type: 'rooms', id: first.obj['id'], rooms: [{ room: 'a', members: 1 }, { room: 'b', members: 2 }], more: true });
  await settle();
  const second = net.sent.at(-1)!;
  t.equal(second.obj['after'], 'b');
  t.not(second.obj['id'], first.obj['id'], 'each page is its own request');
  net.deliver(CONTROL_PORT, { type: 'rooms', id: second.obj['id'], rooms: [{ room: 'c', members: 3 }], more: false });
  t.same(await p, [
    { room: 'a', members: 1 },
    { room: 'b', members: 2 },
    { room: 'c', members: 3 },
  ]);
});

t.test('who collects every page from the room endpoint', async (t) => {
  const { client, net } = await joinedClient();
  const p = client.who('lobby');
  const first = net.last('who', ROOM_PORT);
  t.match(first, { token: TOKEN });
  net.deliver(ROOM_PORT, { type: 'members', id: first['id'], room: 'lobby', members: [{ member: 'a1', nick: 'ann' }], more: true });
  await settle();
  const second = net.last('who', ROOM_PORT);
  t.equal(second['after'], 'a1');
  net.deliver(ROOM_PORT, { type: 'members', id: second['id'], room: 'lobby', members: [{ member: 'b2', nick: 'bob' }], more: false });
  t.same(await p, [
    { member: 'a1', nick: 'ann' },
    { member: 'b2', nick: 'bob' },
  ]);
});

t.test('a page that says more but does not move forward fails instead of looping', async (t) => {
  const { client, net } = makeClient();
  const p = client.rooms();
  const rejected = t.rejects(p, { code: 'BAD_REPLY' });
  await Promise.resolve();
  net.deliver(CONTROL_PORT, { type: 'rooms', id: net.last('rooms')['id'], rooms: [], more: true });
  await rejected;
});

t.test('leave at the room endpoint resolves on left and drops the room', async (t) => {
  const { client, net, clock } = await joinedClient();
  const p = client.leave('lobby');
  const leave = net.last('leave', ROOM_PORT);
  t.match(leave, { type: 'leave', token: TOKEN });
  net.deliver(ROOM_PORT, { type: 'left', id: leave['id'], room: 'lobby' });
  await p;
  t.same(client.joinedRooms(), []);
  net.clear();
  clock.advance(10_000);
  t.same(net.sent, [], 'no hb or anything else after leaving');
  await t.rejects(client.say('lobby', 'x'), { code: 'NOT_JOINED' });
});

t.test('a leave unanswered at the room endpoint is retried at the control endpoint with the same id', async (t) => {
  const { client, net, clock } = await joinedClient();
  const p = client.leave('lobby');
  clock.advance(250 + 500);
  const roomLeaves = net.of('leave', ROOM_PORT);
  t.equal(roomLeaves.length, 3);
  t.equal(net.of('leave', CONTROL_PORT).length, 0);
  clock.advance(1_000);
  await settle(); // the room phase's TIMEOUT hands over to the control phase
  const ctl = net.last('leave', CONTROL_PORT);
  t.same(ctl, { type: 'leave', id: roomLeaves[0]!['id'], room: 'lobby', token: TOKEN });
  net.deliver(CONTROL_PORT, { type: 'left', id: ctl['id'], room: 'lobby' });
  await p;
  t.same(client.joinedRooms(), []);
});

t.test('NOT_MEMBER without id from the room means the membership is lost', async (t) => {
  const { client, net, clock, events } = await joinedClient();
  const pending = client.say('lobby', 'into the void');
  const rejected = t.rejects(pending, { code: 'NOT_MEMBER' });
  net.deliver(ROOM_PORT, { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room' });
  await rejected;
  t.same(events, [
    { kind: 'evicted', room: 'lobby' },
    { kind: 'membership-lost', room: 'lobby' },
  ]);
  t.same(client.joinedRooms(), []);
  net.clear();
  clock.advance(60_000);
  t.same(net.sent, [], 'the lost membership sends nothing more');
});

t.test('NOT_MEMBER answering a say also means the membership is lost', async (t) => {
  const { client, net, events } = await joinedClient();
  const p = client.say('lobby', 'after eviction');
  net.deliver(ROOM_PORT, { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room', id: net.last('say')['id'] });
  await t.rejects(p, { code: 'NOT_MEMBER' });
  t.same(events.map((e) => e.kind), ['evicted', 'membership-lost']);
  t.same(client.joinedRooms(), []);
});

t.test('resumeHeartbeats sends an hb at once, so a silent eviction is noticed', async (t) => {
  const { client, net, clock, events } = await joinedClient();
  client.suspendHeartbeats('lobby');
  clock.advance(10_000);
  t.equal(net.of('hb').length, 0);
  client.resumeHeartbeats('lobby');
  t.equal(net.of('hb').length, 1);
  net.deliver(ROOM_PORT, { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room' });
  t.same(events.map((e) => e.kind), ['evicted', 'membership-lost']);
});

t.test('closed from the control endpoint ends the membership', async (t) => {
  const { client, net, events } = await joinedClient();
  net.deliver(CONTROL_PORT, { type: 'closed', room: 'lobby', reason: 'crashed' });
  t.same(events, [{ kind: 'closed', room: 'lobby', reason: 'crashed' }]);
  t.same(client.joinedRooms(), []);
  await t.rejects(client.leave('lobby'), { code: 'NOT_JOINED' });
});

t.test('joining a room twice is refused locally', async (t) => {
  const { client, net } = await joinedClient();
  await t.rejects(client.join('lobby', 'me'), { code: 'ALREADY_JOINED' });
  t.equal(net.of('join').length, 0, 'nothing sent');
});

t.test('close() leaves every room, then stops every timer and the transport', async (t) => {
  const { client, net, clock } = await joinedClient();
  net.deliver(ROOM_PORT, msg(5)); // a hole: a reorder timer is running
  const say = client.say('lobby', 'unacked');
  const sayRejected = t.rejects(say, { code: 'CLOSED' });
  t.ok(clock.timerCount > 0);
  const closing = client.close();
  const leave = net.last('leave', ROOM_PORT);
  net.deliver(ROOM_PORT, { type: 'left', id: leave['id'], room: 'lobby' });
  await closing;
  await sayRejected;
  t.equal(clock.timerCount, 0, 'no timers left');
  t.equal(net.closed, true, 'transport closed');
  await t.rejects(client.join('x', 'me'), { code: 'CLOSED' });
});

t.test('close() gives up leaving after closeTimeoutMs', async (t) => {
  const { client, net, clock } = await joinedClient('lobby', 3, { closeTimeoutMs: 500 });
  const closing = client.close();
  clock.advance(500);
  await closing;
  t.equal(clock.timerCount, 0);
  t.equal(net.closed, true);
});

t.test('close({ leave: false }) sends nothing and leaves no timers', async (t) => {
  const { client, net, clock } = await joinedClient();
  const ping = client.ping();
  const rejected = t.rejects(ping, { code: 'CLOSED' });
  net.clear();
  await client.close({ leave: false });
  await rejected;
  t.same(net.sent, []);
  t.equal(clock.timerCount, 0);
});

t.test('options are checked eagerly, naming the option', async (t) => {
  t.throws(() => makeClient({ maxAttempts: 0 }), /`maxAttempts`/);
  t.throws(() => makeClient({ port: 70_000 }), /`port`/);
  t.throws(() => makeClient({ bogus: 1 } as never), /Unknown option `bogus`/);
});

t.test('servers: a list of control endpoints instead of host and port, checked eagerly, naming the entry', async (t) => {
  const ok = makeClient({ servers: [{ host: '127.0.0.1', port: 7447 }, { host: 'chat.example', port: 9 }] });
  t.ok(ok.client, 'a list of two, an IP literal and a name');
  const clock = makeClient().clock;
  const build = (o: Record<string, unknown>) => () => new ChatClient({ clock, ...o } as never);
  t.throws(build({}), /`host` to be a non-empty string \(or `servers`/, 'neither host nor servers');
  t.throws(build({ host: 'a', port: 1, servers: [{ host: 'b', port: 2 }] }), /either `servers` or `host` and `port`, not both/);
  t.throws(build({ port: 1, servers: [{ host: 'b', port: 2 }] }), /not both/);
  t.throws(build({ servers: [] }), /`servers` to be a non-empty array/);
  t.throws(build({ servers: 'a:1' }), /`servers` to be a non-empty array/);
  t.throws(build({ servers: [null] }), /`servers\[0\]` to be an object/);
  t.throws(build({ servers: [{ host: 'a', port: 1 }, { host: '', port: 1 }] }), /`servers\[1\]\.host` to be a non-empty string/);
  t.throws(build({ servers: [{ host: 'a', port: 1 }, { host: 'b', port: 0 }] }), /`servers\[1\]\.port` to be an integer in 1\.\.65535, got 0/);
  t.throws(build({ servers: [{ host: 'a', port: 1.5 }] }), /`servers\[0\]\.port`/);
  t.throws(build({ servers: [{ host: 'a', port: 1, weight: 2 }] }), /Unknown option `servers\[0\]\.weight`/);
  t.throws(build({ servers: [{ host: '10.0.0.1', port: 1 }, { host: 'b', port: 2 }, { host: '::1', port: 3 }] }), /one address family: `servers\[2\]\.host` ::1 is not IPv4/);
});

t.test('requests go to the first server; one left unanswered moves the next request on, and its retries stay', async (t) => {
  const second = CONTROL_PORT + 1;
  const { client, net, clock } = makeClient({ maxAttempts: 2, servers: [{ host: '127.0.0.1', port: CONTROL_PORT }, { host: '127.0.0.1', port: second }] });
  const first = t.rejects(client.ping(), { code: 'TIMEOUT' });
  clock.advance(250);
  t.equal(net.of('ping', CONTROL_PORT).length, 2, 'the retry goes to the same server');
  t.same(net.of('ping', second), []);
  clock.advance(500);
  await first;
  const rooms = client.rooms();
  await settle();
  const req = net.last('rooms', second);
  t.same(net.of('rooms', CONTROL_PORT), [], 'the next request goes to the next server');
  net.deliver(CONTROL_PORT, { type: 'rooms', id: req['id'], rooms: [{ room: 'x', members: 1 }], more: false });
  t.equal(net.of('rooms', second).length, 1, 'an answer from another server than the one asked is not the answer');
  net.deliver(second, { type: 'rooms', id: req['id'], rooms: [{ room: 'lobby', members: 2 }], more: false });
  t.same(await rooms, [{ room: 'lobby', members: 2 }]);
});
