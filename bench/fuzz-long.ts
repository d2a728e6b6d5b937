// The long fuzz run (npm run fuzz): test/fuzz.test.ts at scale. A fuzzer on
// 127.0.0.9 sends --count hostile datagrams (default 100,000) at --rate per
// second (default 5,000) to the control port and the room port of a real
// chatd, while two real clients on 127.0.0.1 chat in the room, each message
// awaited. Prints a summary table and the checks; exits 1 if a check fails.
// It stops by itself (a watchdog bounds the whole run) and kills, by pid,
// every process it started.
//
//   node build/bench/fuzz-long.js [--count N] [--seed S] [--rate R]
import { cpus, loadavg, totalmem } from 'node:os';
import { parseArgs } from 'node:util';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import { DEFAULTS } from '../lib/config.js';
import { startChatd, type Chatd } from '../test/helpers/chatd.js';
import { FUZZ_LIMITS, Fuzzer, rssBytes } from '../test/helpers/mutate.js';
import { isAlive } from '../test/helpers/pids.js';

const ROOM = 'fuzz';
const MB = 1024 * 1024;

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    seed: { type: 'string' },
    rate: { type: 'string', default: '5000' },
  },
  strict: true,
});
const count = Number(values.count);
const rate = Number(values.rate);
const seed = values.seed !== undefined ? Number(values.seed) >>> 0 : Math.floor(Math.random() * 2 ** 32) >>> 0;
if (!Number.isSafeInteger(count) || count < 1 || !(rate > 0) || (values.seed !== undefined && !/^\d+$/.test(values.seed))) {
  process.stderr.write('usage: fuzz-long [--count N] [--seed S] [--rate R]\n');
  process.exit(2);
}

// Everything started is stopped by these, last first.
const cleanups: Array<() => unknown> = [];
let cleaning: Promise<void> | undefined;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.reverse()) {
      try {
        await fn();
      } catch {
        /* keep going: everything must be stopped */
      }
    }
  })();
  return cleaning;
}
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => void cleanup().then(() => process.exit(130)));
}
// The whole run is bounded: the fuzzing time at the nominal rate, tripled, plus setup and drain.
const watchdog = setTimeout(() => {
  process.stderr.write('fuzz-long: watchdog fired; stopping\n');
  void cleanup().then(() => process.exit(1));
}, (3 * count * 1000) / rate + 180_000);
watchdog.unref();

function table(title: string, head: string[], rows: Array<Array<string | number>>): void {
  const cells = [head, ...rows.map((r) => r.map(String))];
  const w = head.map((_, i) => Math.max(...cells.map((r) => (r[i] ?? '').length)));
  const line = (r: string[]) => '| ' + r.map((c, i) => (i === 0 ? c.padEnd(w[i]!) : c.padStart(w[i]!))).join(' | ') + ' |';
  console.log(`\n${title}\n`);
  console.log(line(head));
  console.log('| ' + w.map((n, i) => (i === 0 ? '-'.repeat(n) : '-'.repeat(n - 1) + ':')).join(' | ') + ' |');
  for (const r of cells.slice(1)) console.log(line(r));
}

const mb = (n: number | undefined) => (n === undefined ? 'gone' : (n / MB).toFixed(1));

async function main(): Promise<boolean> {
  const started = performance.now();
  console.log(`fuzz-long: seed ${seed}, ${count} datagrams at ${rate}/s; ${new Date().toISOString()}; node ${process.version}, ${cpus().length} x ${cpus()[0]?.model ?? '?'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, load average ${loadavg()[0]!.toFixed(1)}`);
  const d: Chatd = await startChatd({ teardown: (fn) => cleanups.push(fn) }, FUZZ_LIMITS);
  // A clean stop first (SIGTERM); the helper's teardown then SIGKILLs, by pid, anything left.
  cleanups.push(() => d.stop(10_000));
  const alice = new ChatClient({ host: '127.0.0.1', port: d.port });
  const bob = new ChatClient({ host: '127.0.0.1', port: d.port });
  cleanups.push(() => alice.close({ leave: false }), () => bob.close({ leave: false }));
  const ja = await alice.join(ROOM, 'alice');
  const roomPid = await d.roomPid(ROOM);
  const jb = await bob.join(ROOM, 'bob');
  const fz = await Fuzzer.open({ controlPort: d.port, seed, room: ROOM, maxDatagramBytes: DEFAULTS.maxDatagramBytes, maxTextChars: DEFAULTS.maxTextChars });
  cleanups.push(() => fz.close());
  await fz.join();

  const atBob: MsgEvent[] = [];
  const atAlice: MsgEvent[] = [];
  alice.on('message', (m) => m.member === jb.member && atAlice.push(m));
  bob.on('message', (m) => m.member === ja.member && atBob.push(m));
  await alice.say(ROOM, 'warm-up a');
  await bob.say(ROOM, 'warm-up b');
  const before = { sup: await rssBytes(d.pid), room: await rssBytes(roomPid) };
  let peakRoom = before.room ?? 0;
  let peakSup = before.sup ?? 0;
  const sampler = setInterval(() => {
    void rssBytes(roomPid).then((n) => (peakRoom = Math.max(peakRoom, n ?? 0)));
    void rssBytes(d.pid).then((n) => (peakSup = Math.max(peakSup, n ?? 0)));
  }, 500);
  cleanups.push(() => clearInterval(sampler));

  const sentA: string[] = ['warm-up a'];
  const sentB: string[] = ['warm-up b'];
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
  const stats = await fz.run(count, rate, 200, (n) => process.stderr.write(`  ${n} sent...\n`));
  stop = true;
  await chat;
  await alice.say(ROOM, 'last a').then(() => sentA.push('last a'), (err: unknown) => (chatError ??= err));
  await bob.say(ROOM, 'last b').then(() => sentB.push('last b'), (err: unknown) => (chatError ??= err));
  const deadline = Date.now() + 60_000;
  while ((atBob.length < sentA.length || atAlice.length < sentB.length) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  await new Promise((r) => setTimeout(r, 3_000)); // settle before measuring memory
  clearInterval(sampler);
  const after = { sup: await rssBytes(d.pid), room: await rssBytes(roomPid) };
  const inOrderOnce = (got: MsgEvent[], sent: string[]) => got.length === sent.length && got.every((m, i) => m.text === sent[i]);
  const logCount = (e: string) => d.logs.filter((l) => l.event === e).length;

  table(`Datagrams sent (seed ${seed})`, ['target', 'datagrams'], [
    ['control endpoint', stats.sent.control],
    ['room endpoint, from the member endpoint', stats.sent.roomMember],
    ['room endpoint, from another endpoint', stats.sent.roomStranger],
    ['total', stats.sent.control + stats.sent.roomMember + stats.sent.roomStranger],
    ['  of which carry the real token', stats.withRealToken],
    ['  candidates replaced (would be applied)', stats.replaced],
    ['  send errors', stats.sendErrors],
  ]);
  table('Datagrams sent by base message', ['base', 'datagrams'], Object.entries(stats.byBase).sort((a, b) => b[1] - a[1]));
  table('Errors received by code', ['code', 'count'], Object.entries(stats.errors).sort((a, b) => b[1] - a[1]));
  table('Other replies received by type', ['type', 'count'], Object.entries(stats.replies).filter(([k]) => k !== 'error').sort((a, b) => b[1] - a[1]));
  table('Real messages (each awaited)', ['direction', 'sent', 'delivered', 'once, in order'], [
    ['alice -> bob', sentA.length, atBob.length, inOrderOnce(atBob, sentA) ? 'yes' : 'NO'],
    ['bob -> alice', sentB.length, atAlice.length, inOrderOnce(atAlice, sentB) ? 'yes' : 'NO'],
  ]);
  table('Memory (VmRSS, MB)', ['process', 'before', 'peak', 'after (3 s settle)'], [
    ['supervisor', mb(before.sup), mb(peakSup), mb(after.sup)],
    ['room', mb(before.room), mb(peakRoom), mb(after.room)],
  ]);
  table('Log lines (rate-limited per kind)', ['event', 'lines'], ['datagram_dropped', 'challenge_sent', 'control_flood', 'room_exit', 'room_hung', 'handler_failed'].map((e) => [e, logCount(e)]));
  const fuzzSec = stats.durationMs / 1000;
  table('Duration', ['phase', 'seconds'], [
    [`fuzzing (${Math.round(count / fuzzSec)} datagrams/s)`, fuzzSec.toFixed(1)],
    ['whole run', ((performance.now() - started) / 1000).toFixed(1)],
  ]);

  const checks: Array<[string, boolean]> = [
    ['chatd alive, same pid', isAlive(d.pid)],
    ['room alive, same pid, no other room started', isAlive(roomPid) && d.roomPids().length === 1],
    ['no room_exit / room_hung / handler_failed / ipc_rejected', ['room_exit', 'room_hung', 'handler_failed', 'ipc_rejected'].every((e) => logCount(e) === 0)],
    ['no INTERNAL error sent', (stats.errors['INTERNAL'] ?? 0) === 0],
    [`every say acknowledged${chatError ? ` (${String(chatError)})` : ''}`, chatError === undefined],
    ['every real message delivered once, in order', inOrderOnce(atBob, sentA) && inOrderOnce(atAlice, sentB)],
    ['replies well-formed and within the datagram limit', stats.malformedReplies === 0 && stats.oversizedReplies === 0],
    [`unproven endpoint got <= 3x its bytes (${stats.strangerBytesReceived} / ${stats.strangerBytesSent})`, stats.strangerBytesReceived <= 3 * stats.strangerBytesSent],
    [`room RSS back within 50 MB of its baseline`, after.room !== undefined && after.room < (before.room ?? 0) + 50 * MB],
    [`supervisor RSS back within 50 MB of its baseline`, after.sup !== undefined && after.sup < (before.sup ?? 0) + 50 * MB],
  ];
  console.log('\nChecks\n');
  for (const [what, ok] of checks) console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`);
  const ok = checks.every(([, x]) => x);
  console.log(`\n${ok ? 'PASS' : `FAIL (replay: npm run fuzz -- --seed ${seed} --count ${count})`}`);
  return ok;
}

main().then(
  async (ok) => {
    await cleanup();
    process.exit(ok ? 0 : 1);
  },
  async (err: unknown) => {
    process.stderr.write(`fuzz-long failed (seed ${seed}): ${(err as Error)?.stack ?? String(err)}\n`);
    await cleanup();
    process.exit(1);
  },
);
