// chatd's stdout is a pipe to a log reader it does not control: `| head`
// exits, a pager stops reading. Neither may keep chatd from serving, from
// shutting down, or from obeying a second signal.
import { spawn } from 'node:child_process';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CHATD_MAIN, startChatd } from './helpers/chatd.js';
import { scratchDir, within, writeConfig } from './helpers/ops.js';
import { RawClient } from './helpers/raw-client.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

t.test('the log reader closes the pipe, then SIGTERM: chatd exits 0 at once', async (t) => {
  const d = await startChatd(t);
  // Nothing more to log until the signal: the pooled process has warmed up.
  await d.waitLog((l) => l.event === 'pool_process_ready', 15_000, 'pool_process_ready');
  d.proc.stdout!.destroy();
  const t0 = Date.now();
  d.proc.kill('SIGTERM');
  t.same(await within(d.exited, 10_000), { code: 0, signal: null }, 'exits 0');
  t.ok(Date.now() - t0 < 5_000, `in ${Date.now() - t0} ms`);
});

t.test('the log reader goes away while members chat: chatd keeps serving, and SIGTERM still closes every room', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  await a.join(d.port, 'lost', 'ann');
  d.proc.stdout!.destroy();
  const b = await RawClient.open(t);
  const mb = await b.join(d.port, 'lost', 'bob'); // logged into a closed pipe
  b.send({ type: 'say', token: mb.token, id: 'x', text: 'anyone reading the logs?' }, mb.port);
  await a.next((o) => o['type'] === 'msg' && o['id'] === 'x', 10_000, 'msg');
  d.proc.kill('SIGTERM');
  t.match(await a.next((o) => o['type'] === 'closed', 10_000, 'closed'), { reason: 'shutdown' });
  t.same(await within(d.exited, 10_000), { code: 0, signal: null }, 'exits 0');
});

interface Stalled {
  pid: number;
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** After exit: the bytes left unread in the pipe. */
  unread(): number;
}

/**
 * chatd (its own process group) with stdout on a FIFO that the test reads
 * only up to the `listening` line, then never again: a stalled reader. A
 * FIFO holds 64 KiB; more logging than that fills it.
 */
async function startStalled(t: Teardown, overrides: Record<string, unknown>): Promise<Stalled> {
  const dir = scratchDir(t);
  const fifo = join(dir, 'log.fifo');
  execFileSync('mkfifo', [fifo]);
  const rfd = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  const wfd = openSync(fifo, constants.O_WRONLY);
  const config = writeConfig(dir, 'c.json', { dataDir: join(dir, 'data'), ...overrides });
  const proc = spawn(process.execPath, [CHATD_MAIN, '--config', config, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', wfd, 'inherit'], detached: true });
  closeSync(wfd);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(() => {
    try {
      process.kill(-proc.pid!, 'SIGKILL'); // chatd and every room it forked
    } catch {
      /* gone */
    }
    closeSync(rfd);
  });
  const buf = Buffer.alloc(65_536);
  const read = (): number => {
    try {
      return readSync(rfd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return -1;
      throw err;
    }
  };
  let text = '';
  const until = Date.now() + 15_000;
  let port: number | undefined;
  while (port === undefined) {
    if (Date.now() > until) throw new Error(`no listening line; read: ${text.slice(0, 500)}`);
    const n = read();
    if (n === 0) throw new Error(`chatd closed its stdout; read: ${text.slice(0, 500)}`);
    if (n < 0) {
      await new Promise((r) => setTimeout(r, 10));
      continue;
    }
    text += buf.subarray(0, n).toString();
    const line = text.split('\n').find((l) => l.includes('"event":"listening"'));
    if (line) port = (JSON.parse(line) as { port: number }).port;
  }
  const unread = (): number => {
    let total = 0;
    for (let n = read(); n > 0; n = read()) total += n;
    return total;
  };
  return { pid: proc.pid!, port, exited, unread };
}

/** Logs well over a FIFO's 64 KiB while the reader is stalled: join/leave cycles, each answered (chatd keeps serving). */
async function logALot(t: Teardown, port: number): Promise<void> {
  const c = await RawClient.open(t);
  for (let i = 0; i < 400; i++) {
    const j = await c.request({ type: 'join', id: `j${i}`, room: 'stall', nick: `n${i}` }, port, 10_000);
    if (j['type'] !== 'joined') throw new Error(`join ${i}: ${JSON.stringify(j)}`);
    const l = await c.request({ type: 'leave', id: `l${i}`, room: 'stall', token: j['token'] as string }, port, 10_000);
    if (l['type'] !== 'left') throw new Error(`leave ${i}: ${JSON.stringify(l)}`);
  }
}

const busy = { joinRatePerSec: 100_000, joinBurst: 100_000, controlRatePerSec: 100_000, controlBurst: 100_000 };

t.test('a stalled log reader: chatd keeps serving, and SIGTERM stops it (members get closed, exit 0)', async (t) => {
  const d = await startStalled(t, busy);
  const anchor = await RawClient.open(t);
  await anchor.join(d.port, 'stall', 'anchor'); // keeps the room alive through the cycles
  await logALot(t, d.port);
  const t0 = Date.now();
  process.kill(d.pid, 'SIGTERM');
  t.match(await anchor.next((o) => o['type'] === 'closed', 10_000, 'closed'), { reason: 'shutdown' });
  let exit = await within(d.exited, 10_000);
  if (exit === 'timeout') {
    process.kill(d.pid, 'SIGTERM');
    exit = await within(d.exited, 5_000);
  }
  t.same(exit, { code: 0, signal: null }, `exits 0 by itself (${Date.now() - t0} ms)`);
  t.ok(d.unread() >= 60_000, 'the log pipe was full: the reader really stalled');
});

t.test('a stalled log reader and a room that will not stop: the second SIGTERM ends chatd', async (t) => {
  const d = await startStalled(t, { ...busy, shutdownTimeoutMs: 60_000 });
  const anchor = await RawClient.open(t);
  await anchor.join(d.port, 'stall', 'anchor');
  await logALot(t, d.port);
  // Every process chatd forked (the room and the pool) stops answering:
  // the first signal's shutdown would wait shutdownTimeoutMs for them.
  const children = execFileSync('pgrep', ['-P', String(d.pid)], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  t.ok(children.length >= 1, `children ${children.join(',')}`);
  for (const pid of children) process.kill(pid, 'SIGSTOP');
  process.kill(d.pid, 'SIGTERM');
  t.equal(await within(d.exited, 1_000), 'timeout', 'the first signal waits for the stopped room');
  const t0 = Date.now();
  process.kill(d.pid, 'SIGTERM');
  t.same(await within(d.exited, 10_000), { code: 1, signal: null }, 'the second exits 1');
  t.ok(Date.now() - t0 < 5_000, `in ${Date.now() - t0} ms`);
  t.ok(d.unread() >= 60_000, 'the log pipe was full: the reader really stalled');
});
