// The client library and the chat CLI against the real chatd.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { ChatClient, type MsgEvent, type PresenceEvent } from '../client/chat-client.js';
import { startChatd } from './helpers/chatd.js';

const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));

function client(t: { teardown(fn: () => unknown): void }, port: number): ChatClient {
  const c = new ChatClient({ host: '127.0.0.1', port });
  t.teardown(() => c.close({ leave: false }));
  return c;
}

/** Resolves with the first n events of a kind that match, in arrival order. */
function collect<E extends MsgEvent | PresenceEvent>(c: ChatClient, kind: 'message' | 'presence', n: number, pred: (e: E) => boolean = () => true, timeoutMs = 10_000): Promise<E[]> {
  return new Promise((resolve, reject) => {
    const got: E[] = [];
    const timer = setTimeout(() => reject(new Error(`got ${got.length} of ${n} ${kind} events`)), timeoutMs);
    const on = (e: E) => {
      if (!pred(e)) return;
      got.push(e);
      if (got.length === n) {
        clearTimeout(timer);
        c.off(kind, on as never);
        resolve(got);
      }
    };
    c.on(kind, on as never);
  });
}

t.test('clients chat in two rooms and each room delivers only its own messages, in order', async (t) => {
  const d = await startChatd(t);
  const alice = client(t, d.port);
  const bob = client(t, d.port);
  const carol = client(t, d.port);
  await alice.join('first', 'alice');
  await alice.join('second', 'alice');
  await bob.join('first', 'bob');
  await carol.join('second', 'carol');
  const aliceFirst = collect<MsgEvent>(alice, 'message', 10, (m) => m.room === 'first' && m.nick === 'bob');
  const aliceSecond = collect<MsgEvent>(alice, 'message', 10, (m) => m.room === 'second' && m.nick === 'carol');
  const bobAll = collect<MsgEvent>(bob, 'message', 10, (m) => m.nick === 'bob');
  for (let i = 0; i < 10; i++) {
    await Promise.all([bob.say('first', `b${i}`), carol.say('second', `c${i}`)]);
  }
  const f = await aliceFirst;
  const s = await aliceSecond;
  t.same(f.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `b${i}`), 'first: every message, in order');
  t.same(s.map((m) => m.text), Array.from({ length: 10 }, (_, i) => `c${i}`), 'second: every message, in order');
  t.ok(f.every((m, i) => i === 0 || m.seq === f[i - 1]!.seq + 1), 'first: consecutive seqs');
  t.same((await bobAll).map((m) => m.room), Array(10).fill('first'), 'bob, only in first, sees only first');
  t.same((await alice.rooms()).map((r) => r.room), ['first', 'second']);
  t.same((await alice.who('first')).map((m) => m.nick).sort(), ['alice', 'bob']);
});

t.test('a client whose heartbeats stop is evicted; the others see presence evict', async (t) => {
  const d = await startChatd(t, { heartbeatMs: 200, heartbeatMisses: 2 });
  const quiet = client(t, d.port);
  const watcher = client(t, d.port);
  const q = await quiet.join('hb', 'quiet');
  await watcher.join('hb', 'watcher');
  const evicted = collect<PresenceEvent>(watcher, 'presence', 1, (p) => p.event === 'evict');
  quiet.suspendHeartbeats('hb');
  const [ev] = await evicted;
  t.match(ev, { room: 'hb', member: q.member, nick: 'quiet', event: 'evict' });
  const lost = new Promise((resolve) => quiet.once('membership-lost', resolve));
  quiet.resumeHeartbeats('hb');
  t.same(await lost, { room: 'hb' }, 'the evicted client learns it lost the membership');
});

t.test('messages sent while a room restarts are acknowledged and delivered once, in order', async (t) => {
  const d = await startChatd(t);
  const a = client(t, d.port);
  const b = client(t, d.port);
  await a.join('crashy', 'ann');
  await b.join('crashy', 'bob');
  const got = collect<MsgEvent>(b, 'message', 20, (m) => m.nick === 'ann', 20_000);
  const started = await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'crashy');
  for (let i = 0; i < 20; i++) {
    if (i === 7) process.kill(started['roomPid'] as number, 'SIGKILL');
    await a.say('crashy', `m${i}`);
  }
  const msgs = await got;
  t.same(msgs.map((m) => m.text), Array.from({ length: 20 }, (_, i) => `m${i}`), 'every acknowledged message, once, in order');
  t.ok(d.logs.some((l) => l.event === 'room_started' && l['room'] === 'crashy' && (l['incarnation'] as number) >= 2), 'the room was restarted');
  t.same(a.joinedRooms(), ['crashy'], 'no re-join was needed');
});

t.test('chat send delivers to chat tail --json, and both exit as documented', async (t) => {
  const d = await startChatd(t);
  const server = `127.0.0.1:${d.port}`;
  const tail = spawn(process.execPath, [CLI, 'tail', '--server', server, '--room', 'cli', '--nick', 'watcher', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => tail.kill('SIGKILL'));
  const tailExit = new Promise<number | null>((resolve) => tail.once('exit', (code) => resolve(code)));
  const lines: Array<Record<string, unknown>> = [];
  const seen = new Promise<Record<string, unknown>>((resolve) => {
    createInterface({ input: tail.stdout! }).on('line', (l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      lines.push(o);
      if (o['type'] === 'msg') resolve(o);
    });
  });
  await d.waitLog((l) => l.event === 'member_joined' && l['nick'] === 'watcher');
  const run = (args: string[]) =>
    new Promise<{ code: number | null; stderr: string }>((resolve) => {
      const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stderr = '';
      p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
      p.once('exit', (code) => resolve({ code, stderr }));
    });
  const sent = await run(['send', '--server', server, '--room', 'cli', '--nick', 'bot', 'build', '42', 'passed']);
  t.equal(sent.code, 0, `send exits 0 (${sent.stderr})`);
  t.match(await seen, { type: 'msg', room: 'cli', nick: 'bot', text: 'build 42 passed' });
  const refused = await run(['send', '--server', server, '--room', 'bad room', '--nick', 'bot', 'x']);
  t.equal(refused.code, 1, 'a refused send exits 1');
  t.match(refused.stderr, /BAD_ROOM_NAME/);
  tail.kill('SIGTERM');
  t.equal(await tailExit, 0, 'tail exits 0 on SIGTERM');
  await d.waitLog((l) => l.event === 'member_left' && l['room'] === 'cli' && d.logs.filter((x) => x.event === 'member_left').length >= 2);
});

t.test('a lone member evicted (its room deleted with it) learns it from `where` and, with autoRejoin, joins again', async (t) => {
  const d = await startChatd(t, { heartbeatMs: 200, heartbeatMisses: 2 });
  const c = new ChatClient({ host: '127.0.0.1', port: d.port, autoRejoin: true });
  t.teardown(() => c.close({ leave: false }));
  const first = await c.join('alone', 'solo');
  c.suspendHeartbeats('alone');
  // Nobody is left to tell it: the room is deleted with its last member, its port silent.
  await d.waitLog((l) => l.event === 'room_stopped' && l['room'] === 'alone');
  const rejoined = new Promise<unknown>((resolve) => c.once('rejoined', resolve));
  const kinds: string[] = [];
  for (const k of ['rejoining', 'unresponsive', 'evicted'] as const) c.on(k, () => kinds.push(k));
  c.resumeHeartbeats('alone');
  t.match(await rejoined, { room: 'alone', seq: 1, previousSeq: first.seq }, 'a new room, from seq 1');
  // (Silent since before the suspension, it is unresponsive at once: no reply for 3 periods of 200 ms.)
  t.same(kinds.filter((k) => k !== 'unresponsive'), ['rejoining'], 'the lost-membership path');
  t.same(c.joinedRooms(), ['alone']);
  t.match(await c.say('alone', 'back'), { room: 'alone', text: 'back' });
});
