// ChatClient on slow and refusing links: the first retry delay follows the
// measured round trip (max(retryInitialMs, srtt + 4 rttvar), Karn's rule),
// for requests, hb resends and fetch retries alike; a datagram the OS
// refuses to send is a lost datagram, counted, not an 'error'. In-memory
// network, ManualClock: nothing sleeps.
import t from 'tap';
import type { ChatClient } from '../client/chat-client.js';
import type { ManualClock } from '../lib/clock.js';
import { CONTROL_PORT, MEMBER, ROOM_PORT, TOKEN, joinedReply, makeClient, msg, settle, type MemoryTransport } from './helpers/client-net.js';

type H = { client: ChatClient; net: MemoryTransport; clock: ManualClock };

/**
 * n pings, one after the other, over a link with a round trip of rttMs:
 * every ping datagram the client sends, retries included, is answered
 * rttMs later (so a needless retry draws a second pong). Each ping is given
 * 2 x rttMs + 2 s, in 1 ms steps.
 */
async function pings(h: H, n: number, rttMs: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    let seen = h.net.of('ping').length;
    const p = h.client.ping();
    const due: Array<{ at: number; id: unknown }> = [];
    const collect = () => {
      const all = h.net.of('ping');
      for (; seen < all.length; seen++) due.push({ at: h.clock.now() + rttMs, id: all[seen]!['id'] });
    };
    collect();
    for (let ms = 0; ms < 2 * rttMs + 2_000; ms++) {
      h.clock.advance(1);
      collect();
      while (due.length > 0 && due[0]!.at <= h.clock.now()) h.net.deliver(CONTROL_PORT, { type: 'pong', id: due.shift()!.id });
    }
    await p;
  }
}

/** When (ms after the call) each send of type went out, watching in 1 ms steps for `forMs`. */
function sendTimes(h: { net: MemoryTransport; clock: ManualClock }, type: string, forMs: number): number[] {
  const start = h.clock.now();
  const times: number[] = [];
  let seen = h.net.of(type).length;
  for (let ms = 1; ms <= forMs; ms++) {
    h.clock.advance(1);
    const n = h.net.of(type).length;
    for (; seen < n; seen++) times.push(h.clock.now() - start);
  }
  return times;
}

t.test('after answers with a 300 ms round trip, an unanswered request is first retried at srtt + 4 rttvar, not at 250 ms', async (t) => {
  const h = makeClient();
  await pings(h, 1, 300);
  // Resent at 250 ms, answered at 300 ms and again at 550 ms: no sample, but the resend was
  // needless, so the next first delay is backed off to 500 ms (Karn's algorithm).
  t.same([h.client.stats().rttSamples, h.client.stats().retryDelayMs, h.client.stats().retries], [0, 500, 1]);
  await pings(h, 3, 300);
  const st = h.client.stats();
  t.equal(st.srttMs, 300);
  t.equal(st.rttSamples, 3, 'answered on their first send: samples');
  t.equal(st.retries, 1, 'no premature resend any more');
  // rttvar: 150, then x 3/4 per equal sample: 84.375; RTO = 300 + 4 x 84.375 = 637.5
  t.equal(st.retryDelayMs, 638);
  h.net.clear();
  const p = h.client.ping();
  p.catch(() => {});
  t.same(sendTimes(h, 'ping', 2_000), [638, 638 + 1_276], 'first retry at the RTO (not 250 ms), then doubling');
  t.equal(h.net.of('ping').length, 3);
  t.ok(h.net.of('ping').every((o) => o['id'] === h.net.of('ping')[0]!['id']), 'the same request');
  t.equal(h.client.stats().retries, 3);
});

t.test('room requests follow the RTO too', async (t) => {
  const h = makeClient();
  await pings(h, 4, 300);
  const join = h.client.join('lobby', 'me');
  h.net.deliver(CONTROL_PORT, joinedReply(String(h.net.last('join')['id']), 'lobby', 3, { heartbeatMs: 10_000 }));
  await join;
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 }); // answered at once: srtt moves down a little
  const delay = h.client.stats().retryDelayMs;
  t.ok(delay > 300, `first delay ${delay} ms`);
  h.net.clear();
  const say = h.client.say('lobby', 'slow link');
  t.same(sendTimes(h, 'say', delay), [delay], 'say: first retry at the RTO');
  // Both sends got through: the echo, then the room's replay of it for the retry.
  const id = h.net.last('say')['id'];
  const echo = msg(4, { id, member: MEMBER, nick: 'me', text: 'slow link' });
  h.net.deliver(ROOM_PORT, echo);
  t.same(await say, echo);
  t.equal(h.client.stats().retryDelayMs, delay, 'answered once after a resend: nothing learnt');
  h.net.deliver(ROOM_PORT, msg(5, { id }));
  t.equal(h.client.stats().retryDelayMs, delay, 'another member\'s message with that id is no answer');
  h.net.deliver(ROOM_PORT, echo);
  t.equal(h.client.stats().retryDelayMs, 2 * delay, 'the replayed echo shows the resend was needless');
});

t.test('a request answered after a retry is no sample (Karn\'s rule); answered twice, it backs off; a join is no sample', async (t) => {
  const h = makeClient();
  await pings(h, 1, 100);
  t.same([h.client.stats().srttMs, h.client.stats().rttvarMs, h.client.stats().rttSamples], [100, 50, 1]);
  t.equal(h.client.stats().retryDelayMs, 300, '100 + 4 x 50');
  // Sent, resent at 300 ms, answered at 350 ms: the reply may answer either send.
  const p = h.client.ping();
  h.clock.advance(300);
  t.equal(h.net.of('ping').length, 3, 'one ping before, this one resent once');
  h.clock.advance(50);
  const pingId = h.net.last('ping')['id'];
  h.net.deliver(CONTROL_PORT, { type: 'pong', id: pingId });
  t.equal(await p, 350);
  t.same([h.client.stats().srttMs, h.client.stats().rttvarMs, h.client.stats().rttSamples], [100, 50, 1], 'srtt and rttvar unchanged');
  t.equal(h.client.stats().retryDelayMs, 300, 'one answer after a resend: a loss, no back-off');
  h.net.deliver(ROOM_PORT, { type: 'pong', id: pingId });
  t.equal(h.client.stats().retryDelayMs, 300, 'a second answer from the wrong port counts for nothing');
  h.clock.advance(10);
  h.net.deliver(CONTROL_PORT, { type: 'pong', id: pingId });
  t.equal(h.client.stats().retryDelayMs, 600, 'a second answer: the resend was needless, the first delay backs off to twice its own');
  h.net.deliver(CONTROL_PORT, { type: 'pong', id: pingId });
  t.equal(h.client.stats().retryDelayMs, 600, 'once per request');
  // A RATE_LIMITED answer, then the reply after the retry: one sample at most (the refusal's).
  const limited = h.client.ping();
  h.clock.advance(100);
  const id = h.net.last('ping')['id'];
  h.net.deliver(CONTROL_PORT, { type: 'error', code: 'RATE_LIMITED', message: 'slow down', id });
  t.equal(h.client.stats().rttSamples, 2, 'the refusal answered the first send: a sample');
  t.equal(h.client.stats().srttMs, 100);
  t.ok(h.client.stats().retryDelayMs < 600, 'a clean sample ends the back-off');
  h.clock.advance(499);
  t.equal(h.net.of('ping').length, 4, 'its own first delay (600 ms) was fixed when it started');
  h.clock.advance(1);
  t.equal(h.net.of('ping').length, 5, 'the RATE_LIMITED ping is retried');
  h.net.deliver(CONTROL_PORT, { type: 'pong', id });
  await limited;
  t.equal(h.client.stats().rttSamples, 2, 'its reply is not a second sample');
  // A join's reply may wait for a room process to start: not a round trip.
  const join = h.client.join('lobby', 'me');
  h.clock.advance(150);
  h.net.deliver(CONTROL_PORT, joinedReply(String(h.net.last('join')['id']), 'lobby', 1));
  await join;
  t.equal(h.client.stats().rttSamples, 2, 'join not measured');
});

t.test('hb: resent after the RTO; a round answered only after a resend is no sample', async (t) => {
  const h = makeClient();
  await pings(h, 4, 300);
  const join = h.client.join('lobby', 'me');
  h.net.deliver(CONTROL_PORT, joinedReply(String(h.net.last('join')['id']), 'lobby', 3, { heartbeatMs: 10_000 }));
  await join;
  t.equal(h.net.of('hb').length, 1, 'the first hb at once');
  t.same(sendTimes(h, 'hb', 638), [638], 'its resend after the RTO (638 ms), not 250 ms');
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.equal(h.client.stats().rttSamples, 3, 'answered after a resend: not measured');
  t.equal(h.client.stats().retryDelayMs, 638);
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.equal(h.client.stats().retryDelayMs, 1_276, 'answered twice: the resend was needless, backed off');
  // The next round (at 10 s) is answered after 300 ms on its single hb, but the round before needed a resend.
  h.clock.advance(10_000 - 638);
  t.equal(h.net.of('hb').length, 3);
  h.clock.advance(300);
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.equal(h.client.stats().rttSamples, 3, 'a late reply to the old round\'s resend could pass for it');
  h.clock.advance(10_000 - 300);
  h.clock.advance(40);
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 });
  t.equal(h.client.stats().rttSamples, 4, 'a clean round is a sample');
  t.ok(h.client.stats().srttMs! < 300);
  t.ok(h.client.stats().retryDelayMs < 1_276, 'and ends the back-off');
});

t.test('fetch retries start at the RTO', async (t) => {
  const h = makeClient();
  await pings(h, 4, 300);
  const join = h.client.join('lobby', 'me');
  h.net.deliver(CONTROL_PORT, joinedReply(String(h.net.last('join')['id']), 'lobby', 3, { heartbeatMs: 10_000 }));
  await join;
  h.clock.advance(300);
  h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 3 }); // a 300 ms sample: the delay stays above 300
  const delay = h.client.stats().retryDelayMs;
  t.ok(delay > 300, `first delay ${delay} ms`);
  h.net.deliver(ROOM_PORT, msg(6)); // 4 and 5 are missing: fetched after the reorder wait (50 ms)
  h.clock.advance(50);
  t.same(h.net.of('fetch', ROOM_PORT), [{ type: 'fetch', from: 4, to: 5, token: TOKEN }]);
  t.same(sendTimes(h, 'fetch', 2 * delay), [delay], 'retried once the RTO has passed');
});

t.test('on a fast link the first retry stays at retryInitialMs; a very slow one is capped at 2000 ms', async (t) => {
  const fast = makeClient();
  await pings(fast, 5, 2);
  t.equal(fast.client.stats().retryDelayMs, 250);
  fast.net.clear();
  fast.client.ping().catch(() => {});
  t.same(sendTimes(fast, 'ping', 760), [250, 750], 'the old schedule');

  // Slower than the cap: never a clean sample; the back-off doubles 250 -> 500 -> 1000 -> 2000 and stops there.
  const slow = makeClient();
  await pings(slow, 3, 5_000);
  t.same([slow.client.stats().rttSamples, slow.client.stats().retryDelayMs], [0, 2_000]);
  await pings(slow, 1, 5_000);
  t.equal(slow.client.stats().retryDelayMs, 2_000, 'capped');
  slow.net.clear();
  slow.client.ping().catch(() => {});
  t.same(sendTimes(slow, 'ping', 4_000), [2_000, 4_000], 'capped, as the doubling is');
  // A clean sample of 1.9 s: RTO = 1900 + 4 x 950, clamped to 2000.
  const slower = makeClient();
  await pings(slower, 3, 5_000);
  await pings(slower, 1, 1_900);
  t.same([slower.client.stats().rttSamples, slower.client.stats().srttMs, slower.client.stats().retryDelayMs], [1, 1_900, 2_000]);
});

t.test('a send the OS refuses (EPERM from a local firewall) is a lost datagram: counted, no error event, retried', async (t) => {
  const { client, net, clock } = makeClient();
  const errors: Error[] = [];
  client.on('error', (e) => errors.push(e));
  net.refuseWith = 'EPERM';
  const p = client.ping();
  t.equal(net.refused.length, 1, 'the send was refused');
  t.same(errors, [], 'no error event');
  t.equal(client.stats().sendErrors, 1);
  net.refuseWith = undefined;
  clock.advance(250);
  t.equal(net.of('ping').length, 1, 'the retry goes out');
  net.deliver(CONTROL_PORT, { type: 'pong', id: net.last('ping')['id'] });
  t.equal(await p, 250);
  for (const code of ['ECONNREFUSED', 'ENETUNREACH', 'EHOSTUNREACH']) {
    net.refuseWith = code;
    client.ping().catch(() => {});
    net.fail(Object.assign(new Error(`send ${code}`), { code })); // as a send callback reports it
  }
  t.same(errors, []);
  t.equal(client.stats().sendErrors, 7);
  t.ok(client.stats().datagramsSent >= 5);
});

t.test('unexpected transport failures are still error events', async (t) => {
  const { client, net } = makeClient();
  const errors: Error[] = [];
  client.on('error', (e) => errors.push(e));
  net.refuseWith = 'EMSGSIZE';
  client.ping().catch(() => {});
  net.refuseWith = undefined;
  net.fail(new Error('socket exploded'));
  await settle();
  t.same(errors.map((e) => e.message), ['send EMSGSIZE', 'socket exploded']);
  t.equal(client.stats().sendErrors, 0);
});
