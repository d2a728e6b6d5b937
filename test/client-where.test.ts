// ChatClient asks a control endpoint `where` a room is once it goes silent
// (protocol "Several nodes (cluster mode)"): soon after a datagram to the
// room goes unanswered, long before the room is unresponsive. `here` with
// the endpoint in use keeps the membership and asks again soon;
// ROOM_UNAVAILABLE asks again every 250-500 ms; `here` with another
// endpoint moves the membership there; NOT_MEMBER is a lost membership; a
// `where` left unanswered moves on to the next control endpoint; when no
// control endpoint tells for long, autoRejoin gives the room up. The test
// plays the service over an in-memory network; time is a ManualClock.
import t from 'tap';
import type { ManualClock } from '../lib/clock.js';
import type { ChatClientOptions } from '../client/chat-client.js';
import { WHERE_ATTEMPTS } from '../client/locate.js';
import {
  CONTROL_PORT,
  ROOM_PORT,
  SERVER,
  TOKEN,
  MEMBER,
  TOKEN2,
  answerJoin,
  joinedReply,
  joins,
  kinds,
  makeClient,
  msg,
  settle,
  type Harness,
  type MemoryTransport,
  type Obj,
} from './helpers/client-net.js';

const NEW_PORT = ROOM_PORT + 9;
const SECOND_CONTROL = CONTROL_PORT + 1;
/** heartbeatMs in joinedReply. */
const PERIOD = 1_000;
/** The first retry delay (retryInitialMs): a room is quiet 3 of them after a datagram it left unanswered. */
const D = 250;

interface Located extends Harness {
  /** 'unresponsive' and 'responsive' events, in order. */
  liveness: string[];
}

/** A client in `lobby` (own join at seq 3, the first hb answered at t = 0); the sent log is cleared. */
async function locClient(opts: Partial<ChatClientOptions> = {}): Promise<Located> {
  const h = makeClient({ autoRejoin: true, random: () => 0.5, ...opts });
  const liveness: string[] = [];
  h.client.on('unresponsive', () => liveness.push('unresponsive'));
  h.client.on('responsive', () => liveness.push('responsive'));
  const p = h.client.join('lobby', 'me');
  const join = h.net.sent.find((s) => s.obj['type'] === 'join')!;
  h.net.deliver(join.port, joinedReply(String(join.obj['id']), 'lobby', 3));
  await p;
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  h.net.clear();
  return { ...h, liveness };
}

function wheres(net: MemoryTransport, port = CONTROL_PORT): Obj[] {
  return net.of('where', port);
}

/** Advances in 50 ms steps, letting promises settle, until cond holds (at most 60 s); returns the time it took. */
async function advanceUntil(clock: ManualClock, cond: () => boolean): Promise<number> {
  const start = clock.now();
  while (!cond()) {
    if (clock.now() - start > 60_000) throw new Error('condition never held');
    clock.advance(50);
    await settle();
  }
  return clock.now() - start;
}

/** Answers the latest `where` (from the control endpoint it went to), then lets the client react. */
async function answerWhere(net: MemoryTransport, reply: Obj, port = CONTROL_PORT): Promise<void> {
  const id = wheres(net, port).at(-1)!['id'];
  net.deliver(port, { id, ...reply });
  await settle();
}

const here = (port: number) => ({ type: 'here', room: 'lobby', host: SERVER, port });
const refused = (code: string) => ({ type: 'error', code, message: `refused: ${code}` });

t.test('a silent room is asked for soon, with the membership\'s token; `here` with the same endpoint keeps it; the room answering ends it', async (t) => {
  const { client, net, clock, events, liveness } = await locClient();
  const took = await advanceUntil(clock, () => wheres(net).length === 1);
  // The next hb goes out one period after the last answered one; three retry delays later the room is quiet.
  t.ok(took <= PERIOD + 3 * D + 50, `asked ${took} ms after the room's last answer`);
  t.match(wheres(net)[0], { type: 'where', room: 'lobby', token: TOKEN });
  t.same(liveness, [], 'long before the room is reported unresponsive');
  await answerWhere(net, here(ROOM_PORT));
  t.same(events, [], 'nothing moved, nothing lost');
  t.same(client.joinedRooms(), ['lobby']);
  // Asked again soon while the room stays silent: the room may be restarting, or its node dying.
  const first = clock.now();
  await advanceUntil(clock, () => wheres(net).length === 2);
  t.ok(clock.now() - first <= D + 50, 'asked again after 250 ms');
  t.not(wheres(net)[1]!['id'], wheres(net)[0]!['id'], 'each where is a request of its own');
  await answerWhere(net, here(ROOM_PORT));
  const second = clock.now();
  await advanceUntil(clock, () => wheres(net).length === 3);
  t.ok(clock.now() - second >= 2 * D, 'then after 500 ms');
  t.ok(net.of('hb', ROOM_PORT).every((hb) => hb['token'] === TOKEN), 'the membership goes on heartbeating meanwhile');
  // The room answers: no more asking, and a where still on the wire is ignored.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  await answerWhere(net, here(NEW_PORT));
  t.same(events, [], 'a late here changes nothing once the room answered');
  clock.advance(PERIOD / 2);
  t.equal(wheres(net).length, 3);
  t.equal(client.stats().probes, 3, 'stats().probes counts the wheres');
});

t.test('ROOM_UNAVAILABLE is asked again every 250-500 ms; `here` with another endpoint moves the membership there', async (t) => {
  const { client, net, clock, events, seqs } = await locClient();
  net.deliver(ROOM_PORT, msg(4));
  const say = client.say('lobby', 'still there?');
  const sayId = net.last('say', ROOM_PORT)['id'];
  await advanceUntil(clock, () => wheres(net).length === 1);
  const times: number[] = [];
  for (let i = 0; i < 4; i++) {
    await answerWhere(net, refused('ROOM_UNAVAILABLE'));
    const at = clock.now();
    await advanceUntil(clock, () => wheres(net).length === i + 2);
    times.push(clock.now() - at);
  }
  t.ok(times[0]! <= D + 50 && times.slice(1).every((ms) => ms >= 2 * D - 50 && ms <= 2 * D + 50), `asked again after ${times.join(', ')} ms`);
  t.same(kinds({ events } as Harness), ['message']);
  await answerWhere(net, here(NEW_PORT));
  t.same(events.slice(1), [{ kind: 'moved', room: 'lobby', host: SERVER, port: NEW_PORT, from: { host: SERVER, port: ROOM_PORT } }]);
  t.same(net.of('hb', NEW_PORT), [{ type: 'hb', token: TOKEN }], 'the same membership sends hb there at once');
  t.match(net.of('say', NEW_PORT), [{ id: sayId, token: TOKEN, text: 'still there?' }], 'the waiting say goes there with the same id');
  // The room there tells how far it has got: what was missed is fetched from it.
  net.deliver(NEW_PORT, { type: 'hb', room: 'lobby', seq: 7 });
  t.same(net.last('fetch', NEW_PORT), { type: 'fetch', from: 5, to: 7, token: TOKEN });
  net.deliver(NEW_PORT, msg(5), msg(6, { member: MEMBER, nick: 'me', text: 'still there?', id: sayId }), msg(7), { type: 'fetched', room: 'lobby', from: 5, to: 7 });
  t.same(seqs(), [4, 5, 6, 7]);
  t.match(await say, { seq: 6, id: sayId });
  // The old endpoint is not the room's any more.
  net.deliver(ROOM_PORT, msg(8));
  t.same(seqs(), [4, 5, 6, 7]);
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('NOT_MEMBER (a lone member evicted, its room deleted): the membership is lost; with autoRejoin, rejoined', async (t) => {
  const { client, net, clock, events } = await locClient();
  await advanceUntil(clock, () => wheres(net).length === 1);
  await answerWhere(net, refused('NOT_MEMBER'));
  t.same(kinds({ events } as Harness), ['rejoining']);
  await advanceUntil(clock, () => joins(net).length === 1);
  await answerJoin(net, 1, { port: NEW_PORT, members: 1 });
  t.match(events.at(-1), { kind: 'rejoined', room: 'lobby', seq: 1, previousSeq: 3 });
  t.same(net.last('hb', NEW_PORT), { type: 'hb', token: TOKEN2 });
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('NOT_MEMBER without autoRejoin: evicted and membership-lost; a waiting say fails', async (t) => {
  const { client, net, clock, events } = await locClient({ autoRejoin: false });
  const say = t.rejects(client.say('lobby', 'x'), { code: 'NOT_MEMBER' });
  await advanceUntil(clock, () => wheres(net).length === 1);
  await answerWhere(net, refused('NOT_MEMBER'));
  await say;
  t.same(events, [
    { kind: 'evicted', room: 'lobby' },
    { kind: 'membership-lost', room: 'lobby' },
  ]);
  t.same(client.joinedRooms(), []);
  net.clear();
  clock.advance(60_000);
  t.same(net.sent, [], 'nothing more is sent');
  t.equal(clock.timerCount, 0);
});

t.test('a where left unanswered moves on to the next control endpoint, and so do the requests after it', async (t) => {
  const servers = [
    { host: SERVER, port: CONTROL_PORT },
    { host: SERVER, port: SECOND_CONTROL },
  ];
  const { client, net, clock, events } = await locClient({ servers });
  await advanceUntil(clock, () => wheres(net, SECOND_CONTROL).length === 1);
  const first = wheres(net, CONTROL_PORT);
  t.equal(first.length, WHERE_ATTEMPTS, `the first where: ${WHERE_ATTEMPTS} sends to the first control endpoint`);
  t.equal(new Set(first.map((w) => w['id'])).size, 1, 'every send of it with the same id');
  t.not(wheres(net, SECOND_CONTROL)[0]!['id'], first[0]!['id'], 'the next one is a request of its own');
  await answerWhere(net, here(NEW_PORT), SECOND_CONTROL);
  t.match(events, [{ kind: 'moved', port: NEW_PORT }]);
  const ping = client.ping();
  t.equal(net.of('ping', SECOND_CONTROL).length, 1, 'a new request goes to the endpoint that answered');
  net.deliver(SECOND_CONTROL, { type: 'pong', id: net.last('ping', SECOND_CONTROL)['id'] });
  await ping;
});

t.test('no control endpoint answers: with autoRejoin, given up after maxAttempts unresponsive periods (rejoin-failed)', async (t) => {
  const { client, net, clock, events, liveness } = await locClient({ autoRejoin: { maxAttempts: 2 } });
  const say = t.rejects(client.say('lobby', 'x'), { code: 'NOT_JOINED' });
  const took = await advanceUntil(clock, () => events.length > 0);
  await say;
  t.same(events, [{ kind: 'rejoin-failed', room: 'lobby', code: 'TIMEOUT' }]);
  t.ok(took >= 2 * 3 * PERIOD && took <= 2 * 3 * PERIOD + 3_000, `after ${took} ms`);
  t.same(liveness, ['unresponsive']);
  t.same(client.joinedRooms(), []);
  t.ok(wheres(net).length >= 3 * WHERE_ATTEMPTS, 'asked again and again meanwhile');
  clock.advance(60_000);
  t.equal(clock.timerCount, 0);
});

t.test('no control endpoint answers, without autoRejoin: the membership stays (only unresponsive is reported)', async (t) => {
  const { client, net, clock, events, liveness } = await locClient({ autoRejoin: false });
  await advanceUntil(clock, () => liveness.length > 0);
  clock.advance(60_000);
  await settle();
  t.same(events, []);
  t.same(client.joinedRooms(), ['lobby']);
  net.clear();
  clock.advance(PERIOD);
  t.ok(net.of('hb', ROOM_PORT).length > 0, 'still heartbeating');
  // The room answers at last: all is well again.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.same(liveness, ['unresponsive', 'responsive']);
});

t.test('leave() while a where is out: its answer is ignored', async (t) => {
  const { client, net, clock, events } = await locClient();
  await advanceUntil(clock, () => wheres(net).length === 1);
  const leaving = client.leave('lobby');
  await answerWhere(net, here(NEW_PORT));
  net.deliver(ROOM_PORT, { type: 'left', id: net.last('leave', ROOM_PORT)['id'], room: 'lobby' });
  await leaving;
  t.same(events, [], 'no move');
  t.same(client.joinedRooms(), []);
  clock.advance(60_000);
  t.equal(wheres(net).length, 1);
  t.equal(clock.timerCount, 0);
});

t.test('close() while asking stops everything', async (t) => {
  const { client, net, clock, events } = await locClient({ closeTimeoutMs: 500 });
  await advanceUntil(clock, () => wheres(net).length === 1);
  await answerWhere(net, refused('ROOM_UNAVAILABLE')); // the next where is scheduled
  const closing = client.close();
  clock.advance(500);
  await closing;
  t.equal(clock.timerCount, 0);
  t.equal(wheres(net).length, 1);
  t.same(events, []);
});
