// Fuzzing end to end, bounded for the normal suite: a fuzzer on 127.0.0.9
// throws 20,000 hostile datagrams (test/helpers/mutate.ts) at the control
// port and the room port while two real clients on 127.0.0.1 chat in the
// same room. The service must stay up (same pids), deliver every real
// message once and in order, answer garbage only within the rules
// (well-formed, within the datagram limit and the 3x reply budget), and give
// its memory back. The seed is printed; FUZZ_SEED=<seed> replays a run.
// The long version is bench/fuzz-long.ts (npm run fuzz).
import t from 'tap';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import { DEFAULTS } from '../lib/config.js';
import { startChatd } from './helpers/chatd.js';
import { CONTROL_TYPES, FUZZ_LIMITS, Fuzzer, HostileGen, ROOM_TYPES, rssBytes, seedFromEnv } from './helpers/mutate.js';
import { isAlive } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';

const COUNT = 20_000;
const RATE_PER_SEC = 5_000;
const ROOM = 'fuzz';


const MB = 1024 * 1024;

t.test('the generator is deterministic for a seed and covers every message type and mutation', async (t) => {
  const opts = { maxDatagramBytes: DEFAULTS.maxDatagramBytes, maxTextChars: DEFAULTS.maxTextChars, room: ROOM };
  const a = new HostileGen({ seed: 42, ...opts });
  const b = new HostileGen({ seed: 42, ...opts });
  a.setToken('abcdefghijklmnopqrstuvwx');
  b.setToken('abcdefghijklmnopqrstuvwx');
  const bases = new Set<string>();
  const kinds = new Set<string>();
  let same = true;
  let withToken = 0;
  let oversized = 0;
  for (let i = 0; i < 5_000; i++) {
    const x = a.next();
    const y = b.next();
    if (!x.buf.equals(y.buf) || x.target !== y.target || x.via !== y.via) same = false;
    bases.add(`${x.target === 'control' ? 'c' : 'r'}:${x.base}`);
    for (const k of x.kind.split('+')) kinds.add(k);
    if (x.realToken) withToken++;
    if (x.buf.length > DEFAULTS.maxDatagramBytes) oversized++;
  }
  t.ok(same, 'the same seed gives the same datagrams');
  for (const type of CONTROL_TYPES) t.ok(bases.has(`c:${type}`), `control ${type} is fuzzed`);
  for (const type of ROOM_TYPES) t.ok(bases.has(`r:${type}`), `room ${type} is fuzzed`);
  for (const k of ['wrong-type', 'huge-string', 'deep-nesting', 'proto-key', 'duplicate-key', 'invalid-utf8', 'truncated', 'nul-bytes', 'two-objects', 'random-bytes', 'non-object', 'almost-token', 'id-64-65', 'number-edge', 'escaped-surrogate']) {
    t.ok(kinds.has(k), `mutation ${k} is used`);
  }
  t.ok(withToken > 500, `a share carries the real token (${withToken} of 5000)`);
  t.ok(oversized > 0, `some are over the datagram limit (${oversized})`);
  t.ok(a.replaced > 0, `candidates the service would apply are replaced (${a.replaced})`);
});

t.test('hostile datagrams at both endpoints while two members chat: nothing crashes, every message arrives once, in order', async (t) => {
  const seed = seedFromEnv();
  t.comment(`fuzz seed ${seed} (replay with FUZZ_SEED=${seed})`);
  const d = await startChatd(t, FUZZ_LIMITS);
  const alice = new ChatClient({ host: '127.0.0.1', port: d.port });
  const bob = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => alice.close({ leave: false }));
  t.teardown(() => bob.close({ leave: false }));
  const ja = await alice.join(ROOM, 'alice');
  const roomPid = await d.roomPid(ROOM);
  const jb = await bob.join(ROOM, 'bob');

  const fz = await Fuzzer.open({ controlPort: d.port, seed, room: ROOM, maxDatagramBytes: DEFAULTS.maxDatagramBytes, maxTextChars: DEFAULTS.maxTextChars });
  t.teardown(() => fz.close());
  await fz.join();

  const atBob: MsgEvent[] = []; // alice's messages as bob sees them
  const atAlice: MsgEvent[] = [];
  alice.on('message', (m) => m.member === jb.member && atAlice.push(m));
  bob.on('message', (m) => m.member === ja.member && atBob.push(m));
  // Warm up, then take the memory baseline.
  await alice.say(ROOM, 'warm-up a');
  await bob.say(ROOM, 'warm-up b');
  const before = { sup: await rssBytes(d.pid), room: await rssBytes(roomPid) };

  const sentA: string[] = [];
  const sentB: string[] = [];
  let stop = false;
  let chatError: unknown;
  const chat = (async () => {
    try {
      for (let i = 0; !stop; i++) {
        await alice.say(ROOM, `a${i}`);
        sentA.push(`a${i}`);
        await bob.say(ROOM, `b${i}`);
        sentB.push(`b${i}`);
      }
    } catch (err) {
      chatError = err;
    }
  })();

  const stats = await fz.run(COUNT, RATE_PER_SEC);
  stop = true;
  await chat;
  t.notOk(chatError, `every say was acknowledged (seed ${seed})`);
  // One last message each way: once it is delivered, everything before it is too.
  await alice.say(ROOM, 'last a');
  sentA.push('last a');
  await bob.say(ROOM, 'last b');
  sentB.push('last b');
  const deadline = Date.now() + 60_000;
  while ((atBob.length < sentA.length + 1 || atAlice.length < sentB.length + 1) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
  }
  const textsAtBob = atBob.map((m) => m.text).filter((x) => x !== 'warm-up a');
  const textsAtAlice = atAlice.map((m) => m.text).filter((x) => x !== 'warm-up b');
  t.same(textsAtBob, sentA, `every message of alice reached bob once, in order (seed ${seed})`);
  t.same(textsAtAlice, sentB, `every message of bob reached alice once, in order (seed ${seed})`);
  t.ok(atBob.every((m, i) => i === 0 || m.seq > atBob[i - 1]!.seq), 'seqs increase');

  // The service is the same service.
  t.ok(isAlive(d.pid), 'chatd is alive');
  t.ok(isAlive(roomPid), 'the room process is alive');
  t.same(d.roomPids(), [roomPid], `no room was restarted or created by the fuzzer (seed ${seed})`);
  for (const bad of ['room_exit', 'room_hung', 'handler_failed', 'ipc_rejected', 'notice_failed']) {
    t.notOk(d.logs.some((l) => l.event === bad), `no ${bad} in the log (seed ${seed})`);
  }
  t.equal(stats.errors['INTERNAL'] ?? 0, 0, `no INTERNAL error was sent (seed ${seed})`);
  const probe = await RawClient.open(t);
  t.match(await probe.request({ type: 'ping', id: 'after-fuzz' }, d.port), { type: 'pong' }, 'the control endpoint answers');

  // What came back was well-formed and within the rules.
  t.equal(stats.malformedReplies, 0, 'every reply is NDJSON of objects with a type');
  t.equal(stats.oversizedReplies, 0, 'no reply is over the datagram limit');
  t.ok(stats.strangerBytesReceived <= 3 * stats.strangerBytesSent, `unproven endpoint got <= 3x what it sent (${stats.strangerBytesReceived} <= 3 x ${stats.strangerBytesSent})`);
  t.ok(stats.memberControlBytesReceived <= 3 * stats.memberControlBytesSent, `control replies to the member socket <= 3x (${stats.memberControlBytesReceived} <= 3 x ${stats.memberControlBytesSent})`);

  // The rejects were logged (debug datagram_dropped, bounded by the log limiter) and the stolen token's use challenged.
  t.ok(d.logs.some((l) => l.event === 'datagram_dropped' && l['component'] === 'supervisor'), 'datagram_dropped from the supervisor');
  t.ok(d.logs.some((l) => l.event === 'datagram_dropped' && l['component'] === 'room'), 'datagram_dropped from the room');
  t.ok(d.logs.some((l) => l.event === 'challenge_sent'), 'challenge_sent for the token sent from another endpoint');
  t.notOk(JSON.stringify(d.logs.filter((l) => l.event !== 'datagram_dropped')).includes(fz.token), 'the fuzzer member token is not in the log');

  // Memory comes back near its baseline (compared, not absolute).
  await new Promise((r) => setTimeout(r, 2_000));
  const after = { sup: await rssBytes(d.pid), room: await rssBytes(roomPid) };
  t.ok(after.room !== undefined && after.room < before.room! + 50 * MB, `room RSS ${mb(before.room)} -> ${mb(after.room)} MB`);
  t.ok(after.sup !== undefined && after.sup < before.sup! + 50 * MB, `supervisor RSS ${mb(before.sup)} -> ${mb(after.sup)} MB`);

  const count = (e: string) => d.logs.filter((l) => l.event === e).length;
  t.comment(`sent: control ${stats.sent.control}, room as member ${stats.sent.roomMember}, room as stranger ${stats.sent.roomStranger} (real token in ${stats.withRealToken}; ${stats.replaced} candidates replaced) in ${Math.round(stats.durationMs)} ms`);
  t.comment(`by base: ${JSON.stringify(stats.byBase)}`);
  t.comment(`errors received: ${JSON.stringify(stats.errors)}; replies: ${JSON.stringify(stats.replies)}`);
  t.comment(`real messages delivered: ${textsAtBob.length} alice->bob, ${textsAtAlice.length} bob->alice`);
  t.comment(`log: datagram_dropped ${count('datagram_dropped')}, challenge_sent ${count('challenge_sent')}, control_flood ${count('control_flood')}`);
  t.comment(`RSS: supervisor ${mb(before.sup)} -> ${mb(after.sup)} MB, room ${mb(before.room)} -> ${mb(after.room)} MB`);
});

function mb(n: number | undefined): string {
  return n === undefined ? '?' : (n / MB).toFixed(1);
}
