// Supervision end to end: restart intensity and backoff, hung rooms, and a
// chaos run of repeated SIGKILLs while clients chat. Faults come from the
// room's test-only hook (CHATD_TEST_FAULT), never from the protocol.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { waitGone } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';
import { loadNative } from '../rooms/udp-batch.js';

t.test('a room that crashes on start is restarted with growing delays, then given up', async (t) => {
  const d = await startChatd(
    t,
    { restartMaxRestarts: 3, restartPeriodMs: 60_000, restartBackoffInitialMs: 50, restartBackoffFactor: 2, restartBackoffJitter: 0 },
    { CHATD_TEST_FAULT: 'crash-on-start:2' },
  );
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  await a.join(d.port, 'doomed', 'ann');
  await b.join(d.port, 'doomed', 'bob');
  process.kill(await d.roomPid('doomed'), 'SIGKILL');
  const closedA = await a.next((o) => o['type'] === 'closed', 15_000, 'closed');
  const closedB = await b.next((o) => o['type'] === 'closed', 15_000, 'closed');
  t.same({ ...closedA, fromPort: undefined }, { type: 'closed', room: 'doomed', reason: 'crashed', fromPort: undefined });
  t.equal(closedA['fromPort'], d.port, 'from the control endpoint: the room process is dead');
  t.equal(closedB['reason'], 'crashed');
  await d.waitLog((l) => l.event === 'room_exit' && l['decision'] === 'give-up', 5_000, 'give-up decision');
  const decisions = d.logs.filter((l) => l.event === 'room_exit' && l['room'] === 'doomed');
  t.same(
    decisions.map((l) => [l['decision'], l['delayMs'] ?? null]),
    [
      ['restart', 50],
      ['restart', 100],
      ['restart', 200],
      ['give-up', null],
    ],
    'growing delays, then given up',
  );
  t.match(decisions[0], { signal: 'SIGKILL', restartsInWindow: 1 });
  t.match(decisions[1], { code: 70, restartsInWindow: 2 });
  t.match(decisions.at(-1), { reason: 'intensity', restartsInWindow: 3 });
  const list = await a.request({ type: 'rooms', id: 'r', pad: 'x'.repeat(100) }, d.port);
  t.same(list['rooms'], [], 'the room left the registry');
  const again = await a.request({ type: 'join', id: 'again', room: 'doomed', nick: 'ann' }, d.port);
  t.match(again, { type: 'joined', seq: 1, members: 1 }, 'a later join creates it afresh: seq from 1');
});

t.test('a busy-looping room is detected by the IPC probe, killed and restarted; members keep chatting', async (t) => {
  const probe = { probeIntervalMs: 100, probeTimeoutMs: 1_500 };
  const d = await startChatd(t, probe, { CHATD_TEST_FAULT: 'hang-on-sigusr2' });
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'busy', 'ann');
  await b.join(d.port, 'busy', 'bob');
  const pid = await d.roomPid('busy');
  const t0 = Date.now();
  process.kill(pid, 'SIGUSR2');
  const hung = await d.waitLog((l) => l.event === 'room_hung' && l['room'] === 'busy', 10_000, 'room_hung');
  const detectedMs = Date.now() - t0;
  t.equal(hung['roomPid'], pid);
  // generous margin: the machines are shared; this guards "detected at all, and not minutes later"
  t.ok(detectedMs <= probe.probeIntervalMs + probe.probeTimeoutMs + 2_000, `detected in ${detectedMs} ms`);
  t.ok(await waitGone(pid), 'the hung process was killed');
  const restarted = await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'busy' && (l['incarnation'] as number) >= 2, 30_000, 'restart');
  t.equal(restarted['port'], ma.port, 'same port');
  a.send({ type: 'say', token: ma.token, id: 'alive', text: 'still here' }, ma.port);
  t.match(await b.next((o) => o['type'] === 'msg' && o['id'] === 'alive', 5_000), { text: 'still here' });
});

t.test('a room that sends a malformed IPC message is not believed: it is killed and restarted', async (t) => {
  const d = await startChatd(t, {}, { CHATD_TEST_FAULT: 'bad-ipc-on-sigusr1' });
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'liar', 'ann');
  await b.join(d.port, 'liar', 'bob');
  const pid = await d.roomPid('liar');
  process.kill(pid, 'SIGUSR1');
  const rejected = await d.waitLog((l) => l.event === 'ipc_rejected', 10_000, 'ipc_rejected');
  t.equal(rejected['roomPid'], pid);
  t.ok(await waitGone(pid), 'the lying process was killed');
  await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'liar' && (l['incarnation'] as number) >= 2, 30_000, 'restart');
  a.send({ type: 'say', token: ma.token, id: 'ok', text: 'members were kept' }, ma.port);
  t.match(await b.next((o) => o['type'] === 'msg' && o['id'] === 'ok'), { text: 'members were kept' }, 'the roster came from the supervisor, not the liar');
});

t.test('a new room takes a pre-forked process from the pool, and the pool refills', async (t) => {
  const d = await startChatd(t, { roomPoolSize: 1 });
  const pooled = await d.waitLog((l) => l.event === 'pool_process_forked', 10_000, 'pool fill');
  const warm = await d.waitLog((l) => l.event === 'pool_process_ready', 10_000, 'pool process warmed up');
  t.equal(warm['roomPid'], pooled['roomPid'], 'the pooled process warms up and says so');
  const a = await RawClient.open(t);
  const m = await a.join(d.port, 'quick', 'ann');
  t.equal(await d.roomPid('quick'), pooled['roomPid'], 'the room runs in the process forked before the join');
  const bound = await d.waitLog((l) => l.event === 'room_bound' && l['room'] === 'quick', 10_000, 'room_bound');
  const native = loadNative();
  t.equal(bound['fanout'], 'why' in native ? `dgram (${native.why})` : 'sendmmsg', 'the room says how it fans out');
  // The warm-up's throwaway room left nothing behind: the real room starts afresh with one member.
  t.equal(m.seq, 1, 'the join is the first event of the room');
  const who = await a.request({ type: 'who', token: m.token, id: 'w' }, m.port);
  t.same((who['members'] as Array<{ nick: string }>).map((x) => x.nick), ['ann'], 'only the real member is in the room');
  await d.waitLog((l) => l.event === 'pool_process_forked' && l['roomPid'] !== pooled['roomPid'], 10_000, 'refill');
  await d.waitLog((l) => l.event === 'pool_process_ready' && l['roomPid'] !== pooled['roomPid'], 10_000, 'refill warmed up');
  d.proc.kill('SIGTERM');
  t.same(await d.exited, { code: 0, signal: null }, 'idle pooled processes do not hold up shutdown');
});
