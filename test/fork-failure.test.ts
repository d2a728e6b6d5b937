// Forks that fail, in memory: an injected fork that throws (as fork() does
// for ENOMEM) or emits 'error' with no 'exit' (as it does for EMFILE and
// EAGAIN), and children that answer IPC like a room. The end-to-end version
// with a real file descriptor limit is e2e-fork-failure.test.ts.
import { hashToken } from '../lib/tokens.js';
import type { ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import { makeConfig, type Config } from '../lib/config.js';
import { ChatError } from '../lib/errors.js';
import { createLogger } from '../lib/logger.js';
import type { RoomEntry } from '../supervisor/room-entry.js';
import { RoomProcess, type ForkFn } from '../supervisor/room-process.js';
import { Supervisor } from '../supervisor/supervisor.js';

type Mode = 'ok' | 'EMFILE' | 'EAGAIN' | 'ENOMEM';
type Line = Record<string, unknown>;

/** A child that spawned and answers IPC as a room would. */
class FakeRoom extends EventEmitter {
  static nextPid = 100_000;
  readonly pid = FakeRoom.nextPid++;
  connected = true;
  readonly stdout = null;
  constructor() {
    super();
    process.nextTick(() => this.emit('spawn'));
  }
  send(msg: { type: string; rid?: number; port?: number; record?: unknown }): boolean {
    const reply = (m: object) => process.nextTick(() => this.emit('message', m));
    if (msg.type === 'init') reply({ type: 'ready', port: msg.port || 40_000, seq: 0 });
    else if (msg.type === 'ping') reply({ type: 'pong', rid: msg.rid });
    else if (msg.type === 'add') reply({ type: 'added', rid: msg.rid, seq: 1, members: 1 });
    else if (msg.type === 'shutdown') this.die(0, null);
    return true;
  }
  kill(signal: string): boolean {
    this.die(null, signal);
    return true;
  }
  die(code: number | null, signal: string | null): void {
    if (!this.connected) return;
    this.connected = false;
    process.nextTick(() => this.emit('exit', code, signal));
  }
}

/**
 * What Node does when the spawn fails: no pid, 'error' on the next tick,
 * never 'exit'. After EAGAIN (not EMFILE) it still sets up the IPC channel,
 * so a send fails too, with another 'error'.
 */
class FailedChild extends EventEmitter {
  readonly pid = undefined;
  readonly connected: boolean;
  readonly stdout = null;
  constructor(code: string) {
    super();
    this.connected = code === 'EAGAIN';
    // Node's message names the program; none of it may reach a member.
    const err = Object.assign(new Error(`spawn /usr/bin/node ${code}`), { code, syscall: 'spawn /usr/bin/node', path: '/usr/bin/node' });
    process.nextTick(() => this.emit('error', err));
  }
  send(): boolean {
    if (!this.connected) return false;
    process.nextTick(() => this.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' })));
    return true;
  }
  kill(): boolean {
    return false;
  }
}

/** A fork whose outcome the test sets; it records every call and every child. */
function fakeFork() {
  const f = {
    mode: 'ok' as Mode,
    calls: 0,
    children: [] as FakeRoom[],
    fn: (() => {
      f.calls++;
      if (f.mode === 'ENOMEM') throw Object.assign(new Error('spawn ENOMEM'), { code: 'ENOMEM', syscall: 'spawn' });
      if (f.mode !== 'ok') return new FailedChild(f.mode) as unknown as ChildProcess;
      const c = new FakeRoom();
      f.children.push(c);
      return c as unknown as ChildProcess;
    }) as ForkFn,
  };
  return f;
}

function logger() {
  const lines: Line[] = [];
  const log = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Line) }, { component: 'supervisor' });
  return { log, lines, events: (name: string) => lines.filter((l) => l['event'] === name) };
}

const sink = { write: () => true };
/** Lets promise chains, nextTicks and the mailboxes run. */
const settle = async (rounds = 5) => {
  for (let i = 0; i < rounds; i++) await new Promise((r) => setImmediate(r));
};
/** Resolves with the promise's outcome, or 'pending' if it has not settled within ms. */
const within = <T>(p: Promise<T>, ms: number): Promise<T | 'pending'> =>
  Promise.race([p, new Promise<'pending'>((r) => setTimeout(() => r('pending'), ms).unref())]);
const caught = (p: Promise<unknown>) => p.then(() => undefined, (e: unknown) => e);

function harness(t: { testdir(): string }, overrides: Record<string, unknown> = {}) {
  const config: Config = makeConfig({
    dataDir: t.testdir(),
    roomPoolSize: 0,
    // huge timeouts: anything answered here is answered by the failure itself, not by a deadline
    roomStartTimeoutMs: 600_000,
    ipcTimeoutMs: 600_000,
    probeIntervalMs: 600_000,
    restartMaxRestarts: 2,
    restartPeriodMs: 60_000,
    restartBackoffInitialMs: 20,
    restartBackoffJitter: 0,
    ...overrides,
  });
  const fork = fakeFork();
  const { log, lines, events } = logger();
  const clock = new ManualClock();
  const sup = new Supervisor({ config, log, logSink: sink, clock, random: () => 0.5, fork: fork.fn });
  sup.status = 'running'; // no socket: replies go through a spy
  const sent: Array<{ port: number; msg: Line }> = [];
  sup.control.send = (to, buf) => void sent.push({ port: to.port, msg: JSON.parse(buf.toString()) as Line });
  return { config, fork, sup, clock, lines, events, sent };
}

t.test('RoomProcess: a fork that fails looks like an exit', async (t) => {
  const table: Array<{ mode: Mode; message: string }> = [
    { mode: 'EMFILE', message: 'cannot start a room process: too many open files' },
    { mode: 'EAGAIN', message: 'cannot start a room process: too many processes' },
    { mode: 'ENOMEM', message: 'cannot start a room process: out of memory' }, // thrown by fork() itself
  ];
  for (const { mode, message } of table) {
    await t.test(mode, async (t) => {
      const { config } = harness(t);
      const fork = fakeFork();
      fork.mode = mode;
      const { log, events } = logger();
      let proc: RoomProcess | undefined;
      t.doesNotThrow(() => (proc = new RoomProcess(config, log, sink, {}, false, fork.fn)), 'the constructor never throws');
      const p = proc!;
      const exits: unknown[] = [];
      p.on('exit', (e) => exits.push(e));
      const started = caught(p.start({ room: 'r', port: 0, addresses: [], members: [], leaves: [], journalPath: 'j', incarnation: 1, seqCeiling: 0, leaseTo: 16_384 }));
      const err = await within(started, 2_000);
      t.type(err, ChatError, 'start rejects at once, not after roomStartTimeoutMs');
      t.match(err, { code: 'ROOM_UNAVAILABLE', message });
      t.notMatch((err as Error).message, /\//, 'no server path in what members see');
      t.same(exits, [{ code: null, signal: null, spawnError: mode, expected: false }], 'exit emitted once');
      t.same(await within(p.whenExited(), 2_000), { code: null, signal: null, spawnError: mode });
      t.equal(p.status, 'exited');
      t.equal(p.spawnError, mode);
      t.equal(p.pid, undefined);
      t.match(await caught(p.request({ type: 'ping' })), { code: 'ROOM_UNAVAILABLE' });
      t.doesNotThrow(() => p.kill());
      t.same(await within(p.stop('empty', 600_000), 2_000), { code: null, signal: null, spawnError: mode }, 'stop does not hang');
      t.match(await within(caught(p.start({ room: 'r', port: 0, addresses: [], members: [], leaves: [], journalPath: 'j', incarnation: 2, seqCeiling: 16_384, leaseTo: 32_768 })), 2_000), { message });
      await settle();
      t.equal(exits.length, 1, 'still one exit');
      t.same(events('room_process_error'), [], 'a failed spawn is not also logged as a process error');
    });
  }
});

t.test('RoomProcess: an error after the spawn (a failed send) is logged, not taken for an exit', async (t) => {
  const { config } = harness(t);
  const fork = fakeFork();
  const { log, events } = logger();
  const p = new RoomProcess(config, log, sink, {}, false, fork.fn);
  let spawned = false;
  p.on('spawned', () => (spawned = true));
  const exits: unknown[] = [];
  p.on('exit', (e) => exits.push(e));
  t.equal(await within(p.start({ room: 'r', port: 0, addresses: [], members: [], leaves: [], journalPath: 'j', incarnation: 1, seqCeiling: 0, leaseTo: 16_384 }), 2_000), 40_000);
  t.ok(spawned);
  const child = fork.children[0]!;
  child.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE', syscall: 'write' }));
  t.equal(p.status, 'running');
  t.same(exits, []);
  t.equal(events('room_process_error').length, 1);
  child.die(null, 'SIGKILL');
  child.emit('error', new Error('late'));
  await settle();
  t.same(exits, [{ code: null, signal: 'SIGKILL', expected: false }], 'the real exit, once');
});

t.test('a join that needs a new room gets ROOM_UNAVAILABLE at once, and tries one fork, not one per port', async (t) => {
  const { sup, fork, events } = harness(t, { roomPortMin: 40_000, roomPortMax: 40_010 });
  fork.mode = 'EMFILE';
  const err = await within(caught(sup.lifecycle.createRoom('lobby', undefined)), 2_000);
  t.match(err, { code: 'ROOM_UNAVAILABLE', message: 'cannot start a room process: too many open files' });
  t.equal(fork.calls, 1);
  t.equal(sup.registry.size, 0, 'no room left behind');
  t.match(events('room_create_failed'), [{ room: 'lobby', reason: 'cannot start a room process: too many open files' }]);
  fork.mode = 'ok';
  const entry = await sup.lifecycle.createRoom('lobby', undefined);
  t.equal(entry.state, 'running', 'once forks work again, so does the room');
});

t.test('the pool drops a process that could not be forked, backs off, and recovers', async (t) => {
  const { sup, fork, clock, events } = harness(t, { roomPoolSize: 1 });
  fork.mode = 'EMFILE';
  sup.lifecycle.fillPool();
  await settle();
  t.equal(fork.calls, 1);
  t.match(events('pool_fork_failed'), [{ error: 'EMFILE', failures: 1, retryMs: 200 }]);
  // A join meanwhile does not get the dead process from the pool: it forks itself.
  t.match(await within(caught(sup.lifecycle.createRoom('a', undefined)), 2_000), { message: /too many open files/ });
  t.equal(fork.calls, 2);
  clock.advance(100); // the take's refill comes while the pool backs off: no fork
  await settle();
  t.equal(fork.calls, 2, 'no refill before the retry delay');
  clock.advance(100);
  await settle();
  t.equal(fork.calls, 3, 'the retry');
  t.match(events('pool_fork_failed').at(-1), { failures: 3, retryMs: 800 }, 'the delay doubles per failed fork');
  fork.mode = 'ENOMEM'; // thrown inside the retry timer: must not escape into the supervisor
  t.doesNotThrow(() => clock.advance(800));
  await settle();
  t.equal(fork.calls, 4);
  t.match(events('pool_fork_failed').at(-1), { error: 'ENOMEM', failures: 4, retryMs: 1_600 });
  const delays: number[] = [];
  for (let i = 0; i < 5; i++) {
    const retryMs = events('pool_fork_failed').at(-1)!['retryMs'] as number;
    const calls = fork.calls;
    clock.advance(retryMs - 1);
    await settle();
    t.equal(fork.calls, calls, 'no fork before the delay is over');
    clock.advance(1);
    await settle();
    t.equal(fork.calls, calls + 1, 'one fork when it is');
    delays.push(events('pool_fork_failed').at(-1)!['retryMs'] as number);
  }
  t.same(delays, [3_200, 6_400, 10_000, 10_000, 10_000], 'capped');
  fork.mode = 'ok';
  const before = fork.calls;
  clock.advance(10_000);
  await settle();
  t.equal(fork.calls, before + 1, 'one fork on the next retry');
  t.match(events('room_fork_recovered'), [{ failures: before }]);
  fork.mode = 'EMFILE';
  const entry = await within(sup.lifecycle.createRoom('b', undefined), 2_000);
  t.match(entry, { state: 'running' }, 'the refilled pool serves a new room even though forks fail again');
  t.equal(fork.calls, before + 1, 'without a fork');
});

t.test('a fork that works again lets the pool refill without waiting out its delay', async (t) => {
  const { sup, fork, clock, events } = harness(t, { roomPoolSize: 1 });
  fork.mode = 'EMFILE';
  for (let i = 0; i < 6; i++) {
    sup.lifecycle.fillPool();
    await settle();
    clock.advance(events('pool_fork_failed').at(-1)!['retryMs'] as number);
  }
  await settle();
  const delay = events('pool_fork_failed').at(-1)!['retryMs'] as number;
  t.ok(delay >= 6_400, `backed off to ${delay} ms`);
  fork.mode = 'ok';
  await sup.lifecycle.createRoom('c', undefined); // the join's own fork works
  await settle();
  const before = fork.calls;
  clock.advance(50);
  await settle();
  t.equal(fork.calls, before + 1, 'the pool refilled 50 ms later, not after its retry delay');
});

/** A running room with one proven and one unproven member; the fork then fails with mode. */
async function crashWhileForksFail(t: Parameters<typeof harness>[0], mode: Mode, overrides: Record<string, unknown> = {}) {
  const h = harness(t, overrides);
  const entry: RoomEntry = await h.sup.lifecycle.createRoom('doomed', undefined);
  for (const [i, proven] of [true, false].entries()) {
    const port = 5_000 + i;
    h.sup.registry.addMember(entry, { member: `m${i}`, nick: `n${i}`, nickKey: `n${i}`, tokenHash: hashToken('t'.repeat(24)), address: '127.0.0.1', port, endpoint: `127.0.0.1:${port}`, via: 0, proven });
  }
  h.fork.mode = mode;
  h.fork.children[0]!.die(null, 'SIGKILL');
  await settle();
  return { ...h, entry };
}

t.test('a room that crashes while forks fail is retried, then given up: members hear closed crashed', async (t) => {
  for (const mode of ['EMFILE', 'ENOMEM'] as const) {
    await t.test(mode, async (t) => {
      const { sup, fork, clock, events, sent } = await crashWhileForksFail(t, mode);
      for (let i = 0; i < 20 && sent.length === 0; i++) clock.advance(1_000), await settle();
      t.same(sent, [{ port: 5_000, msg: { type: 'closed', room: 'doomed', reason: 'crashed' } }], 'the proven member hears it from the control endpoint');
      t.same(
        events('room_exit').map((l) => [l['decision'], l['signal'] ?? l['spawnError'], l['delayMs'] ?? l['reason']]),
        [
          ['restart', 'SIGKILL', 20],
          ['restart', mode, 40],
          ['give-up', mode, 'intensity'],
        ],
        'each failed fork is a failed start for the restart policy',
      );
      t.equal(events('room_restart_failed').length, 2);
      t.equal(fork.calls, 3, 'the first incarnation and two failed restarts');
      t.equal(sup.registry.size, 0);
      t.same([5_000, 5_001].map((p) => sup.registry.roomsOf(`127.0.0.1:${p}`)), [0, 0], 'members no longer count against their endpoints');
      t.equal(await within(sup.stop(), 2_000), undefined, 'shutdown does not hang');
    });
  }
});

t.test('shutdown after a restart found forks failing does not hang', async (t) => {
  const { sup, clock, sent, events } = await crashWhileForksFail(t, 'EAGAIN', { restartMaxRestarts: 10, restartBackoffInitialMs: 1_000 });
  clock.advance(1_000);
  await settle();
  t.equal(events('room_restart_failed').length, 1, 'a restart was tried and its fork failed');
  const stopped = sup.stop();
  for (let i = 0; i < 5; i++) clock.advance(2_000), await settle();
  t.equal(await within(stopped, 2_000), undefined);
  t.equal(sup.status, 'stopped');
  t.same(sent, [], 'stopped, not given up');
});
