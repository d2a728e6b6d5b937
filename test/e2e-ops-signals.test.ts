// Signals and uncaught errors as they really arrive: Ctrl-C signals the
// whole process group, not chatd alone; an error nobody caught must leave
// one fatal line with its stack in the log, whichever process it killed.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EXIT_UNCAUGHT } from '../lib/fatal.js';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { within } from './helpers/ops.js';
import { isAlive, waitGone } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';

/** Every process chatd forked that the log names: rooms and pooled ones. */
function forkedPids(d: Chatd): number[] {
  const pids = d.logs.filter((l) => (l.event === 'room_started' || l.event === 'pool_process_forked') && typeof l['roomPid'] === 'number').map((l) => l['roomPid'] as number);
  return [...new Set(pids)];
}

t.test('SIGINT to the process group (Ctrl-C): members get closed shutdown, chatd exits 0, no room process survives', async (t) => {
  const d = await startChatd(t, {}, {}, { detached: true });
  t.teardown(() => {
    try {
      process.kill(-d.pid, 'SIGKILL');
    } catch {
      /* the group is gone */
    }
  });
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  // join() sends hb after joined and waits for its reply: the members are proven.
  await a.join(d.port, 'g1', 'ann');
  await b.join(d.port, 'g1', 'bob');
  await b.join(d.port, 'g2', 'bob');
  await d.waitLog((l) => l.event === 'pool_process_ready', 15_000, 'a warm pooled process');
  const t0 = Date.now();
  process.kill(-d.pid, 'SIGINT');
  const closed = await Promise.all([
    a.next((o) => o['type'] === 'closed' && o['room'] === 'g1', 15_000, 'ann closed g1'),
    b.next((o) => o['type'] === 'closed' && o['room'] === 'g1', 15_000, 'bob closed g1'),
    b.next((o) => o['type'] === 'closed' && o['room'] === 'g2', 15_000, 'bob closed g2'),
  ]);
  for (const c of closed) t.equal(c['reason'], 'shutdown', `${String(c['room'])}: closed {reason: "shutdown"}`);
  const exit = await within(d.exited, 15_000);
  t.same(exit, { code: 0, signal: null }, `chatd exits 0 (${Date.now() - t0} ms)`);
  for (const pid of d.roomPids()) {
    t.match(d.logs.find((l) => l.event === 'room_signal' && l['pid'] === pid), { signal: 'SIGINT' }, `room ${pid} logged the signal`);
  }
  t.notOk(d.logs.some((l) => l.event === 'room_exit'), 'no room is reported crashed');
  t.same(
    d.logs.filter((l) => l.event === 'room_stopped').map((l) => [l['room'], l['code'], l['signal']]).sort(),
    [
      ['g1', 0, null],
      ['g2', 0, null],
    ],
    'each room exited 0, closed by the supervisor',
  );
  for (const pid of forkedPids(d)) t.ok(await waitGone(pid, 5_000), `forked process ${pid} is gone`);
});

t.test('a room signalled alone closes by itself after the grace period and exits 0', async (t) => {
  const d = await startChatd(t, { shutdownTimeoutMs: 300 });
  const a = await RawClient.open(t);
  const m = await a.join(d.port, 'alone', 'ann');
  const pid = await d.roomPid('alone');
  process.kill(pid, 'SIGTERM');
  const closed = await a.next((o) => o['type'] === 'closed', 10_000, 'closed');
  t.equal(closed['reason'], 'shutdown');
  t.equal(closed['fromPort'], m.port, 'from the room itself');
  await d.waitLog((l) => l.event === 'room_signal_timeout' && l['pid'] === pid, 10_000, 'room_signal_timeout');
  t.match(await d.waitLog((l) => l.event === 'room_exit' && l['roomPid'] === pid, 10_000, 'room_exit'), { code: 0, signal: null });
  t.ok(await waitGone(pid, 5_000), 'the room process is gone');
});

t.test("a room's uncaught exception: one fatal line with the stack, exit 70, the room is restarted", async (t) => {
  const d = await startChatd(t, {}, { CHATD_TEST_FAULT: 'throw-on-sigusr1' });
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'boom', 'ann');
  await b.join(d.port, 'boom', 'bob');
  const pid = await d.roomPid('boom');
  process.kill(pid, 'SIGUSR1');
  const fatal = await d.waitLog((l) => l.event === 'uncaught' && l['pid'] === pid, 10_000, 'the fatal line');
  t.match(fatal, { level: 'fatal', component: 'room', room: 'boom', origin: 'uncaughtException' });
  const err = fatal['err'] as Record<string, unknown>;
  t.match(err, { type: 'Error', message: 'test fault: throw-on-sigusr1' });
  t.match(String(err['stack']), /throw-on-sigusr1\n\s+at /, 'with its stack');
  t.match(await d.waitLog((l) => l.event === 'room_exit' && l['roomPid'] === pid, 10_000, 'room_exit'), { code: EXIT_UNCAUGHT, decision: 'restart' });
  const second = await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'boom' && (l['incarnation'] as number) >= 2, 30_000, 'restart');
  t.not(second['roomPid'], pid, 'a new process');
  a.send({ type: 'say', token: ma.token, id: 'after', text: 'still here' }, ma.port);
  await b.next((o) => o['type'] === 'msg' && o['id'] === 'after', 10_000, 'a message after the restart');
  t.equal(d.logs.filter((l) => l.event === 'uncaught').length, 1, 'one fatal line');
});

t.test("the supervisor's unhandled rejection: one fatal line with the stack, exit 70, lock released, rooms close", async (t) => {
  const d = await startChatd(t, {}, { CHATD_TEST_FAULT: 'supervisor-reject-on-sigusr2' });
  const a = await RawClient.open(t);
  await a.join(d.port, 'orphan', 'ann');
  const pid = await d.roomPid('orphan');
  const lock = join(d.dir, 'data', 'chatd.lock');
  t.ok(existsSync(lock), 'locked while running');
  process.kill(d.pid, 'SIGUSR2');
  const exit = await within(d.exited, 15_000);
  t.same(exit, { code: EXIT_UNCAUGHT, signal: null }, 'chatd exits 70');
  const fatal = d.logs.filter((l) => l.event === 'uncaught');
  t.equal(fatal.length, 1, 'one fatal line');
  t.match(fatal[0], { level: 'fatal', component: 'supervisor', origin: 'unhandledRejection' });
  t.match(String((fatal[0]?.['err'] as Record<string, unknown> | undefined)?.['stack']), /supervisor-reject-on-sigusr2\n\s+at /, 'with its stack');
  t.notOk(existsSync(lock), 'the dataDir lock is released');
  // The room sees its IPC channel close and closes by itself.
  t.match(await a.next((o) => o['type'] === 'closed', 10_000, 'closed'), { room: 'orphan', reason: 'shutdown' });
  t.ok(await waitGone(pid, 5_000), 'the room process is gone');
  t.notOk(isAlive(d.pid));
});
