// Forks that fail for real: chatd's open-file limit is lowered with
// prlimit(1) to what it already holds, so creating a room process's pipes
// fails with EMFILE in the supervisor, as on a machine out of descriptors.
// The rooms already running keep their own limit and go on working. Only
// the soft limit is lowered: a room forked once descriptors are free again
// inherits it, and Node raises it to the hard limit at start, so the room
// is not starved (a test runner's module hooks open many files at load).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import t from 'tap';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { RawClient, type Membership } from './helpers/raw-client.js';

const hasPrlimit = process.platform === 'linux' && ['/usr/bin/prlimit', '/bin/prlimit'].some((p) => existsSync(p));

function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Sets the soft limit only (`N:`), which is what open() and pipe() are held to. */
function limitFds(pid: number, n: number): void {
  execFileSync('prlimit', ['--pid', String(pid), `--nofile=${n}:`]);
}

/** Pooled processes never log room_started: kill them by pid too. */
function killPooled(t: { teardown(fn: () => unknown): void }, d: Chatd): void {
  t.teardown(() => {
    for (const l of d.logs) {
      if (l.event !== 'pool_process_forked' || typeof l['roomPid'] !== 'number') continue;
      try {
        process.kill(l['roomPid'], 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
}

/** Waits until the pool holds a warm process that no room has taken. */
async function poolWarm(d: Chatd): Promise<number> {
  const l = await d.waitLog((l) => l.event === 'pool_process_ready' && !d.roomPids().includes(l['roomPid'] as number), 15_000, 'a warm pooled process');
  return l['roomPid'] as number;
}

/** The pool's refill after a take has tried to fork (a failed fork has no pid). */
async function refillTried(d: Chatd): Promise<void> {
  await d.waitLog((l) => l.event === 'pool_process_forked' && l['roomPid'] === undefined, 10_000, 'the pool refill tried');
}

async function exitsWithin(d: Chatd, ms: number) {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'still running'>((r) => (timer = setTimeout(() => r('still running'), ms)));
  const out = await Promise.race([d.exited, timeout]);
  clearTimeout(timer);
  return out;
}

t.test('while forks fail: joins for new rooms are refused at once, existing rooms work, and leaving rooms brings it all back', { skip: !hasPrlimit && 'needs Linux and prlimit' }, async (t) => {
  const roomStartTimeoutMs = 10_000;
  const d = await startChatd(t, { roomPoolSize: 1, roomStartTimeoutMs });
  killPooled(t, d);
  const a = await RawClient.open(t);
  const m: Record<string, Membership> = {};
  const leaving = ['r2', 'r3', 'r4', 'r5', 'p'];
  for (const room of ['r1', 'r2', 'r3', 'r4', 'r5']) {
    m[room] = await a.join(d.port, room, 'ann');
    await d.roomPid(room);
  }
  await poolWarm(d);
  // Nothing left to open a pipe with: every fork fails at its first pipe.
  const limit = openFds(d.pid);
  limitFds(d.pid, limit);

  m['p'] = await a.join(d.port, 'p', 'ann');
  t.pass('a new room still starts in the warm pooled process, which needs no fork');
  await refillTried(d);

  const t0 = Date.now();
  const refused = await a.request({ type: 'join', id: 'x1', room: 'x', nick: 'ann' }, d.port, roomStartTimeoutMs * 2);
  const refusedMs = Date.now() - t0;
  t.match(refused, { type: 'error', code: 'ROOM_UNAVAILABLE', message: 'cannot start a room process: too many open files' }, 'refused, saying why');
  t.ok(refusedMs < roomStartTimeoutMs / 4, `refused in ${refusedMs} ms, not after roomStartTimeoutMs (${roomStartTimeoutMs} ms)`);
  t.match(await d.waitLog((l) => l.event === 'room_create_failed', 5_000, 'room_create_failed'), { room: 'x', reason: 'cannot start a room process: too many open files' }, 'one log line for the refusal');
  t.match(d.logs.find((l) => l.event === 'pool_fork_failed'), { error: 'EMFILE', retryMs: 200 }, 'the pool says why and when it tries again');

  // Rooms that exist need no fork: a second member joins r1 and hears ann.
  const b = await RawClient.open(t);
  const mb = await b.join(d.port, 'r1', 'bob');
  a.send({ type: 'say', token: m['r1']!.token, id: 's1', text: 'still here' }, m['r1']!.port);
  t.match(await b.next((o) => o['type'] === 'msg' && o['id'] === 's1', 5_000, 'msg in r1'), { text: 'still here' }, 'a room that exists keeps serving');
  const list = await a.request({ type: 'rooms', id: 'l1', pad: 'x'.repeat(200) }, d.port);
  t.same(((list['rooms'] as Array<{ room: string }>) ?? []).map((r) => r.room).sort(), ['p', 'r1', 'r2', 'r3', 'r4', 'r5'], 'the registry holds what it should');

  // Leaving rooms closes their processes and with them the supervisor's
  // pipes. Node leaks the pipes of a fork that fails with 3 or 4
  // descriptors free, so the rooms are left at once, just after the pool
  // has put its next try well off, and with a spare room's worth.
  await d.waitLog((l) => l.event === 'pool_fork_failed' && (l['retryMs'] as number) >= 1_600, 15_000, 'the pool backing off');
  const recoveredFrom = d.logs.length;
  const left = await Promise.all(leaving.map((room) => a.request({ type: 'leave', id: `L-${room}`, room, token: m[room]!.token }, d.port)));
  t.same(left.map((l) => l['type']), leaving.map(() => 'left'), 'leaves are served');
  for (const room of leaving) await d.waitLog((l) => l.event === 'room_stopped' && l['room'] === room, 10_000, `room_stopped ${room}`);
  // The supervisor closes a room's pipes when it reads their end, just after the exit.
  for (let i = 0; i < 100 && openFds(d.pid) > limit - 2 * leaving.length; i++) await new Promise((r) => setTimeout(r, 20));
  t.equal(openFds(d.pid), limit - 2 * leaving.length, 'each room left gave back its two pipes');
  const again = await a.request({ type: 'join', id: 'x2', room: 'x', nick: 'ann' }, d.port);
  t.match(again, { type: 'joined', room: 'x', seq: 1 }, 'a new room works again, without restarting chatd');
  await d.roomPid('x');
  await d.waitLog((l) => l.event === 'room_fork_recovered' && d.logs.indexOf(l) >= recoveredFrom, 15_000, 'room_fork_recovered');
  const pooled = await poolWarm(d);
  t.ok(d.logs.findIndex((l) => l.event === 'pool_process_forked' && l['roomPid'] === pooled) > recoveredFrom, 'the pool refilled after forks came back');
  b.send({ type: 'say', token: mb.token, id: 's2', text: 'and still' }, mb.port);
  t.match(await a.next((o) => o['type'] === 'msg' && o['id'] === 's2', 5_000, 'msg in r1 after'), { text: 'and still' }, 'r1 served throughout');

  d.proc.kill('SIGTERM');
  t.same(await exitsWithin(d, 15_000), { code: 0, signal: null }, 'SIGTERM: exit 0');
  t.match(await a.next((o) => o['type'] === 'closed' && o['room'] === 'r1', 5_000, 'closed r1'), { reason: 'shutdown' }, 'members told of the shutdown');
});

t.test('a room killed while forks fail is retried, then given up: its members hear closed crashed', { skip: !hasPrlimit && 'needs Linux and prlimit' }, async (t) => {
  const d = await startChatd(t, { roomPoolSize: 1, restartMaxRestarts: 2, restartPeriodMs: 60_000, restartBackoffInitialMs: 50, restartBackoffJitter: 0 });
  killPooled(t, d);
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  await a.join(d.port, 'victim', 'ann');
  await b.join(d.port, 'victim', 'bob');
  const victim = await d.roomPid('victim');
  await poolWarm(d);
  // Two below what it holds: the victim's pipes, closed when it dies, must not make room for a fork.
  limitFds(d.pid, openFds(d.pid) - 2);
  const mby = await a.join(d.port, 'bystander', 'ann'); // takes the pooled process; its refill fails
  await refillTried(d);

  process.kill(victim, 'SIGKILL');
  const closedA = await a.next((o) => o['type'] === 'closed' && o['room'] === 'victim', 15_000, 'closed for ann');
  const closedB = await b.next((o) => o['type'] === 'closed' && o['room'] === 'victim', 15_000, 'closed for bob');
  t.same(closedA, { type: 'closed', room: 'victim', reason: 'crashed', fromPort: d.port }, 'from the control endpoint');
  t.equal(closedB['reason'], 'crashed', 'every proven member hears it');
  await d.waitLog((l) => l.event === 'room_exit' && l['decision'] === 'give-up', 5_000, 'give-up');
  t.same(
    d.logs.filter((l) => l.event === 'room_exit' && l['room'] === 'victim').map((l) => [l['decision'], l['signal'] ?? l['spawnError'], l['delayMs'] ?? l['reason']]),
    [
      ['restart', 'SIGKILL', 50],
      ['restart', 'EMFILE', 100],
      ['give-up', 'EMFILE', 'intensity'],
    ],
    'each failed fork counts as a failed start',
  );

  a.send({ type: 'say', token: mby.token, id: 'by', text: 'unaffected' }, mby.port);
  t.match(await a.next((o) => o['type'] === 'msg' && o['id'] === 'by', 5_000, 'msg in bystander'), { text: 'unaffected' }, 'the other room is unaffected');
  d.proc.kill('SIGTERM');
  t.same(await exitsWithin(d, 15_000), { code: 0, signal: null }, 'SIGTERM while forks still fail: exit 0');
});
