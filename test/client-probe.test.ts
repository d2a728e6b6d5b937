// ChatClient with autoRejoin probes a room that stopped answering: a `join`
// of the same room and nick at the control endpoint tells a membership that
// is gone (a lone member evicted, its room deleted: `joined`, the client
// switches to the new membership) from one the supervisor still holds (a
// room restarting: ALREADY_JOINED, the session is kept). The test plays the
// service over an in-memory network; time is a ManualClock.
import t from 'tap';
import type { ManualClock } from '../lib/clock.js';
import type { ChatClientOptions } from '../client/chat-client.js';
import {
  CONTROL_PORT,
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
  type Harness,
} from './helpers/client-net.js';

const NEW_PORT = ROOM_PORT + 9;
const NOT_MEMBER = { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room' };
/** heartbeatMs in joinedReply: the room is unresponsive after 3 000 ms without an hb reply. */
const PERIOD = 1_000;

interface Probed extends Harness {
  firstJoinId: string;
  /** 'unresponsive' and 'responsive' events, in order. */
  liveness: string[];
}

/** A client in `lobby` (own join at seq, the first hb answered), with autoRejoin unless told; the sent log is cleared. */
async function probeClient(
  opts: { seq?: number; key?: string; autoRejoin?: ChatClientOptions['autoRejoin'] } & Partial<ChatClientOptions> = {},
): Promise<Probed> {
  const { seq = 3, key, autoRejoin = true, ...rest } = opts;
  const h = makeClient({ autoRejoin, random: () => 0.5, ...rest });
  const liveness: string[] = [];
  h.client.on('unresponsive', () => liveness.push('unresponsive'));
  h.client.on('responsive', () => liveness.push('responsive'));
  const p = h.client.join('lobby', 'me', key === undefined ? {} : { key });
  const firstJoinId = String(h.net.last('join', CONTROL_PORT)['id']);
  h.net.deliver(CONTROL_PORT, joinedReply(firstJoinId, 'lobby', seq));
  await p;
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq });
  h.net.clear();
  return { ...h, firstJoinId, liveness };
}

/** Advances in 50 ms steps until cond holds (at most 60 s); returns the time it took. */
function advanceUntil(clock: ManualClock, cond: () => boolean): number {
  const start = clock.now();
  while (!cond()) {
    if (clock.now() - start > 60_000) throw new Error('condition never held');
    clock.advance(50);
  }
  return clock.now() - start;
}





t.test('a lone member evicted (its room deleted): unresponsive, a probe join, `joined`, rejoined; events flow from the new seq', async (t) => {
  const h = await probeClient({ seq: 3 });
  const { client, net, clock, events, liveness } = h;
  net.deliver(ROOM_PORT, msg(4), msg(5));
  t.same(h.seqs(), [4, 5]);
  // From now on nothing answers at the room port: the room was deleted with its last member.
  const silent = advanceUntil(clock, () => liveness.length > 0);
  t.same(liveness, ['unresponsive']);
  t.ok(silent >= 3 * PERIOD, `unresponsive after ${silent} ms, not before 3 periods`);
  const probes = joins(net);
  t.equal(probes.length, 1, 'one probe join, sent when the room is reported unresponsive');
  t.match(probes[0], { type: 'join', room: 'lobby', nick: 'me' });
  t.equal(probes[0]!['key'], undefined, 'no key: the room had none');
  t.not(probes[0]!['id'], h.firstJoinId, 'a fresh request id');
  t.same(kinds(h), ['message', 'message'], 'no loss reported yet');
  // The old membership keeps heartbeating while the probe is out.
  const hbs = net.of('hb', ROOM_PORT).length;
  clock.advance(PERIOD / 2);
  t.ok(net.of('hb', ROOM_PORT).length > hbs, 'hb still sent during the probe');
  t.ok(net.of('hb', ROOM_PORT).every((hb) => hb['token'] === TOKEN));
  // A say made while the room is silent waits for whichever membership answers.
  const say = client.say('lobby', 'anyone?');
  const sayId = net.last('say', ROOM_PORT)['id'];
  // The supervisor had no membership of ours: it created the room afresh, on another port, from seq 1.
  await answerJoin(net, 1, { port: NEW_PORT, members: 1 });
  t.same(events.slice(2), [{ kind: 'rejoined', room: 'lobby', seq: 1, previousSeq: 5 }], 'rejoined only: no rejoining, evicted or membership-lost');
  t.same(client.joinedRooms(), ['lobby']);
  t.same(net.last('hb', NEW_PORT), { type: 'hb', token: TOKEN2 }, 'the new membership proves its address at once');
  t.match(net.last('say', NEW_PORT), { id: sayId, token: TOKEN2, text: 'anyone?' }, 'the waiting say goes out under the new membership');
  // Whatever still comes from the old port is not ours any more.
  net.clear();
  net.deliver(ROOM_PORT, msg(6), { type: 'hb', room: 'lobby', seq: 6 });
  t.same(h.seqs(), [4, 5], 'nothing from the old port is delivered');
  t.same(liveness, ['unresponsive'], 'an hb reply from the old port does not count');
  net.deliver(NEW_PORT, { type: 'hb', room: 'lobby', seq: 1 });
  t.same(liveness, ['unresponsive', 'responsive'], 'the new membership\'s first hb reply ends the silence');
  net.deliver(NEW_PORT, presence(2), msg(3, { id: sayId, member: MEMBER2, nick: 'me', text: 'anyone?' }));
  t.same(h.seqs(), [4, 5, 2, 3], 'delivery goes on after the new joined.seq');
  t.match(await say, { seq: 3, member: MEMBER2 });
  for (let ms = 0; ms < 10_000; ms += 500) {
    net.deliver(NEW_PORT, { type: 'hb', room: 'lobby', seq: 3 });
    clock.advance(500);
  }
  t.equal(net.of('hb', ROOM_PORT).length, 0, 'the old membership sends nothing more');
  t.equal(joins(net).length, 0, 'no more probes');
  t.equal(client.stats().probes, 1);
});

t.test('without autoRejoin a silent room is only reported unresponsive: no probe', async (t) => {
  const h = await probeClient({ autoRejoin: false });
  advanceUntil(h.clock, () => h.liveness.length > 0);
  h.clock.advance(60_000);
  t.same(h.liveness, ['unresponsive']);
  t.same(joins(h.net), []);
  t.same(h.events, []);
  t.same(h.client.joinedRooms(), ['lobby']);
  t.ok(h.net.of('hb', ROOM_PORT).length > 0, 'still heartbeating');
  t.equal(h.client.stats().probes, 0);
});

t.test('a restarting room: the probe gets ALREADY_JOINED, the session is kept, probing is bounded', async (t) => {
  const h = await probeClient({ seq: 3, autoRejoin: { maxAttempts: 3 } });
  const { client, net, clock, events, liveness } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  t.same(liveness, ['unresponsive']);
  await refuseJoin(net, 'ALREADY_JOINED');
  t.same(events, [], 'no rejoined, no loss');
  t.same(client.joinedRooms(), ['lobby']);
  const hbs = net.of('hb', ROOM_PORT).length;
  clock.advance(PERIOD);
  t.ok(net.of('hb', ROOM_PORT).length > hbs, 'the kept session goes on heartbeating');
  t.ok(net.of('hb').every((hb) => hb['token'] === TOKEN), 'with its own token');
  // The next probe: one unresponsive period after the first began.
  clock.advance(3 * PERIOD - PERIOD - 1);
  t.equal(joins(net).length, 1, 'not before 3 periods');
  clock.advance(1);
  t.equal(joins(net).length, 2, 'probed again after one unresponsive period');
  t.not(joins(net)[1]!['id'], joins(net)[0]!['id'], 'each probe is its own request');
  await refuseJoin(net, 'ALREADY_JOINED');
  clock.advance(3 * PERIOD);
  t.equal(joins(net).length, 3);
  await refuseJoin(net, 'ALREADY_JOINED');
  const hbsNow = net.of('hb', ROOM_PORT).length;
  clock.advance(60_000);
  t.equal(joins(net).length, 3, 'at most autoRejoin.maxAttempts probes per silent spell');
  t.ok(net.of('hb', ROOM_PORT).length > hbsNow, 'still heartbeating');
  t.same(events, []);
  t.same(client.joinedRooms(), ['lobby']);
  // The restart completes: the same membership answers, and the backlog is fetched with the same token.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 6 });
  t.same(liveness, ['unresponsive', 'responsive']);
  t.same(net.last('fetch', ROOM_PORT), { type: 'fetch', from: 4, to: 6, token: TOKEN });
  net.deliver(ROOM_PORT, msg(4), msg(5), presence(6), { type: 'fetched', room: 'lobby', from: 4, to: 6 });
  t.same(h.seqs(), [4, 5, 6]);
  // A later silence is probed afresh.
  advanceUntil(clock, () => joins(net).length === 4);
  t.same(liveness, ['unresponsive', 'responsive', 'unresponsive']);
  t.equal(client.stats().probes, 4);
});

t.test('a probe refused for good (BAD_KEY: the room was created again with a key) is rejoin-failed', async (t) => {
  const h = await probeClient({ key: 'sesame' });
  const { client, net, clock, events } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  t.equal(net.last('join', CONTROL_PORT)['key'], 'sesame', 'the probe gives the key');
  const say = client.say('lobby', 'x');
  const rejected = t.rejects(say, { code: 'NOT_JOINED' });
  await refuseJoin(net, 'BAD_KEY');
  await rejected;
  t.same(events, [{ kind: 'rejoin-failed', room: 'lobby', code: 'BAD_KEY' }]);
  t.same(client.joinedRooms(), []);
  net.clear();
  clock.advance(60_000);
  t.same(net.sent, [], 'nothing more is sent');
  t.equal(clock.timerCount, 0);
});

t.test('probes refused otherwise (NICK_TAKEN) until they run out: rejoin-failed, as a rejoin', async (t) => {
  const h = await probeClient({ autoRejoin: { maxAttempts: 2 } });
  const { client, net, clock, events } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  await refuseJoin(net, 'NICK_TAKEN');
  t.same(events, [], 'not final: probed again');
  t.same(client.joinedRooms(), ['lobby']);
  clock.advance(3 * PERIOD);
  t.equal(joins(net).length, 2);
  await refuseJoin(net, 'NICK_TAKEN');
  t.same(events, [{ kind: 'rejoin-failed', room: 'lobby', code: 'NICK_TAKEN' }]);
  t.same(client.joinedRooms(), []);
  t.equal(clock.timerCount, 0);
});

t.test('race: a late hb reply, then the probe\'s `joined` on the same port: the new membership wins', async (t) => {
  const h = await probeClient({ seq: 3 });
  const { client, net, clock, events, liveness } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  // The old session's hb reply comes late, after the probe was sent.
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.same(liveness, ['unresponsive', 'responsive']);
  await answerJoin(net, 8); // same port: the same room (a room keeps its port)
  t.same(events, [{ kind: 'rejoined', room: 'lobby', seq: 8, previousSeq: 3 }]);
  t.same(net.last('hb', ROOM_PORT), { type: 'hb', token: TOKEN2 });
  // NOT_MEMBER answering an hb the old membership sent just before the switch is not about the new one.
  net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(kinds(h), ['rejoined'], 'a NOT_MEMBER without id right after the switch is ignored');
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 8 });
  net.deliver(ROOM_PORT, msg(9));
  t.same(h.seqs(), [9]);
  net.clear();
  clock.advance(2 * PERIOD);
  t.ok(net.of('hb').every((hb) => hb['token'] === TOKEN2), 'only the new token is used');
  // Later, a NOT_MEMBER is about the new membership: believed.
  net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(kinds(h), ['rejoined', 'message', 'rejoining']);
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('race: the probe\'s `joined` (new port), then a late hb reply from the old port: ignored', async (t) => {
  const h = await probeClient({ seq: 3 });
  const { net, clock, events, liveness } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  await answerJoin(net, 1, { port: NEW_PORT, members: 1 });
  t.same(events, [{ kind: 'rejoined', room: 'lobby', seq: 1, previousSeq: 3 }]);
  net.clear();
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 40 }, msg(41));
  t.same(liveness, ['unresponsive'], 'the old session is gone: its reply changes nothing');
  t.same(h.seqs(), []);
  clock.advance(100);
  t.same(net.of('fetch'), [], 'no fetch for the old room\'s seqs');
  net.deliver(ROOM_PORT, NOT_MEMBER);
  t.same(kinds(h), ['rejoined'], 'nor does a NOT_MEMBER from the old port');
});

t.test('NOT_MEMBER while the probe is out: the rejoin that starts takes the probe\'s membership', async (t) => {
  const h = await probeClient({ seq: 3 });
  const { client, net, clock, events } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  net.deliver(ROOM_PORT, NOT_MEMBER); // another member is in the room, which evicted us
  t.same(kinds(h), ['rejoining']);
  await answerJoin(net, 11); // the probe's join
  t.same(events.at(-1), { kind: 'rejoined', room: 'lobby', seq: 11, previousSeq: 3 });
  t.same(net.last('hb', ROOM_PORT), { type: 'hb', token: TOKEN2 });
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 11 });
  clock.advance(1_000);
  t.equal(joins(net).length, 1, 'the rejoin sends no join of its own');
  t.same(client.joinedRooms(), ['lobby']);
});

t.test('leave() while the probe is out: the membership the probe brings is given back', async (t) => {
  const h = await probeClient();
  const { client, net, clock } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  const leaving = client.leave('lobby');
  await answerJoin(net, 11);
  t.same(net.last('leave', CONTROL_PORT), { type: 'leave', id: net.last('leave', CONTROL_PORT)['id'], room: 'lobby', token: TOKEN2 });
  net.deliver(ROOM_PORT, { type: 'left', id: net.last('leave', ROOM_PORT)['id'], room: 'lobby' });
  await leaving;
  t.same(kinds(h), [], 'no rejoined');
  t.same(client.joinedRooms(), []);
  clock.advance(60_000);
  t.equal(joins(net).length, 1);
  t.equal(clock.timerCount, 0);
});

t.test('close() while probing stops everything', async (t) => {
  const h = await probeClient({ closeTimeoutMs: 500 });
  const { client, net, clock } = h;
  advanceUntil(clock, () => joins(net).length === 1);
  await refuseJoin(net, 'ALREADY_JOINED'); // the next probe is scheduled
  const closing = client.close();
  clock.advance(500);
  await closing;
  t.equal(clock.timerCount, 0);
  t.equal(joins(net).length, 1);
  t.same(kinds(h), []);
});
