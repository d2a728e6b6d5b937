// Floods end to end, with the default limits: a hostile member (a real
// membership, from 127.0.0.8) sends `say` as fast as it can, and a hostile
// address (127.0.0.10) floods the control port with pings, both for a few
// seconds, while two real clients (127.0.0.1) chat, each message awaited.
// The real clients' messages must all arrive; the flooder must be told
// RATE_LIMITED and get no more messages sequenced than its token bucket
// allows; the control flood must be dropped and logged. Latencies are
// printed, never asserted (the machine is shared).
import t from 'tap';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import { DEFAULTS } from '../lib/config.js';
import { startChatd } from './helpers/chatd.js';
import { isAlive } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';

const FLOOD_MS = 3_000;
const ROOM = 'flood';
/** Sends per event-loop turn: as fast as the socket takes them, while replies are still read. */
const BATCH = 100;

function percentile(xs: number[], p: number): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]!;
}

t.test('a flooding member and a control-port flood: real members are served, the flooder is held to its rate', async (t) => {
  const d = await startChatd(t);
  const alice = new ChatClient({ host: '127.0.0.1', port: d.port });
  const bob = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => alice.close({ leave: false }));
  t.teardown(() => bob.close({ leave: false }));
  const ja = await alice.join(ROOM, 'alice');
  const jb = await bob.join(ROOM, 'bob');
  const roomPid = await d.roomPid(ROOM);

  const flooder = await RawClient.open(t, '127.0.0.8');
  const mf = await flooder.join(d.port, ROOM, 'flooder');
  const pinger = await RawClient.open(t, '127.0.0.10');

  const fromFlooder = new Set<string>(); // ids of the flooder's messages that were sequenced, as alice sees them
  const atBob: MsgEvent[] = [];
  const atAlice: MsgEvent[] = [];
  alice.on('message', (m) => {
    if (m.member === mf.member) fromFlooder.add(m.id);
    if (m.member === jb.member) atAlice.push(m);
  });
  bob.on('message', (m) => m.member === ja.member && atBob.push(m));

  // Real chat: each message awaited; latency = say() until the sender's ack,
  // delivery = say() until the other client has it.
  const sentA: string[] = [];
  const sentB: string[] = [];
  const ackMs: number[] = [];
  const deliveryMs: number[] = [];
  const sendTimes = new Map<string, number>();
  bob.on('message', (m) => {
    const t0 = sendTimes.get(m.text);
    if (m.member === ja.member && t0 !== undefined) deliveryMs.push(performance.now() - t0);
  });
  alice.on('message', (m) => {
    const t0 = sendTimes.get(m.text);
    if (m.member === jb.member && t0 !== undefined) deliveryMs.push(performance.now() - t0);
  });
  const say = async (c: ChatClient, text: string, log: string[]) => {
    const t0 = performance.now();
    sendTimes.set(text, t0);
    await c.say(ROOM, text);
    ackMs.push(performance.now() - t0);
    log.push(text);
  };
  let stop = false;
  let chatError: unknown;
  const chat = (async () => {
    try {
      for (let i = 0; !stop; i++) {
        const started = performance.now();
        await say(alice, `a${i}`, sentA);
        await say(bob, `b${i}`, sentB);
        // Real people: each client stays at half its own say rate, so only the flooder is limited.
        const pause = 1000 / (DEFAULTS.sayRatePerSec / 2) - (performance.now() - started);
        if (pause > 0) await new Promise((r) => setTimeout(r, pause));
      }
    } catch (err) {
      chatError = err;
    }
  })();

  // The floods: as fast as the sockets take them, for FLOOD_MS.
  const t0 = performance.now();
  let says = 0;
  let pings = 0;
  while (performance.now() - t0 < FLOOD_MS) {
    for (let i = 0; i < BATCH; i++) {
      flooder.send({ type: 'say', token: mf.token, id: `f${says++}`, text: 'FLOOD' }, mf.port);
      pinger.send({ type: 'ping', id: `p${pings++}` }, d.port);
    }
    await new Promise<void>((resolve) => setImmediate(resolve));
  }
  const floodEnd = performance.now();
  stop = true;
  await chat;
  t.notOk(chatError, `every say of the real clients was acknowledged${chatError ? `: ${String(chatError)}` : ''}`);

  // One last message each way: the room handles its datagrams in order, so
  // once these are delivered every flood datagram queued before them was handled.
  await say(alice, 'last a', sentA);
  await say(bob, 'last b', sentB);
  const deadline = Date.now() + 60_000;
  while ((atBob.length < sentA.length || atAlice.length < sentB.length) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  t.same(atBob.map((m) => m.text), sentA, 'every message of alice reached bob once, in order');
  t.same(atAlice.map((m) => m.text), sentB, 'every message of bob reached alice once, in order');

  // The flooder: told to slow down, and sequenced no more than its bucket allows.
  const limited = flooder.received.filter((o) => o['type'] === 'error' && o['code'] === 'RATE_LIMITED').length;
  t.ok(limited > 0, `the flooder got RATE_LIMITED (${limited} replies)`);
  // From the first flood datagram to now: an upper bound of the time the room spent on the flood.
  let windowSec = (performance.now() - t0) / 1000;
  const bound = DEFAULTS.sayBurst + DEFAULTS.sayRatePerSec * windowSec + 5;
  t.ok(fromFlooder.size >= 1, `some flood messages were sequenced (${fromFlooder.size})`);
  t.ok(fromFlooder.size <= bound, `flood messages sequenced ${fromFlooder.size} <= sayBurst + sayRatePerSec x ${windowSec.toFixed(1)} s + 5 = ${bound.toFixed(0)}`);

  // The control flood: dropped past its burst and logged.
  await d.waitLog((l) => l.event === 'control_flood' && l['from'] === '127.0.0.10', 10_000, 'control_flood from the pinger');
  const pongs = pinger.received.filter((o) => o['type'] === 'pong').length;
  windowSec = (performance.now() - t0) / 1000;
  const pongBound = DEFAULTS.controlBurst + DEFAULTS.controlRatePerSec * windowSec + 5;
  t.ok(pongs <= pongBound, `the pinger got ${pongs} pongs for ${pings} pings (<= ${pongBound.toFixed(0)})`);

  t.ok(isAlive(d.pid) && isAlive(roomPid), 'chatd and the room are alive');
  t.same(d.roomPids(), [roomPid], 'the room was not restarted');
  t.notOk(d.logs.some((l) => l.event === 'room_exit' || l.event === 'room_hung'), 'no room_exit or room_hung');

  t.comment(`flood: ${says} says in ${((floodEnd - t0) / 1000).toFixed(1)} s (${Math.round(says / ((floodEnd - t0) / 1000))}/s), ${fromFlooder.size} sequenced, ${limited} RATE_LIMITED replies; ${pings} pings, ${pongs} pongs`);
  t.comment(`real clients: ${sentA.length + sentB.length} messages; ack p50 ${percentile(ackMs, 50).toFixed(1)} ms, p99 ${percentile(ackMs, 99).toFixed(1)} ms; delivery p50 ${percentile(deliveryMs, 50).toFixed(1)} ms, p99 ${percentile(deliveryMs, 99).toFixed(1)} ms`);
});
