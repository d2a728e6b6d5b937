// SIGHUP as an operator sends it (systemd's ExecReload, logrotate's
// postrotate): a real chatd re-reads its config file, applies what may
// change while it runs, to members already chatting too, reports what needs
// a restart, changes nothing for a bad file, and reopens its log file. Also:
// what `ps` shows of chatd's processes, and whose nick a leave or eviction was.
import { spawn, execFileSync } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { CHATD_MAIN, startChatd, type Chatd, type LogLine } from './helpers/chatd.js';
import { scratchDir, within } from './helpers/ops.js';
import { isAlive, sigkill, track } from './helpers/pids.js';
import { RawClient, type Membership, type Obj } from './helpers/raw-client.js';

/** The test's timeouts, as startChatd gives them. */
const SLOW_MACHINE = { roomStartTimeoutMs: 30_000, ipcTimeoutMs: 15_000, probeTimeoutMs: 15_000 };

async function freeUdpPort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((resolve) => s.bind(0, '127.0.0.1', resolve));
  const port = s.address().port;
  await new Promise<void>((resolve) => s.close(resolve));
  return port;
}

/** Rewrites chatd's config file: what it was started with, with these changes. */
function rewriteConfig(d: Chatd, base: Record<string, unknown>, changes: Record<string, unknown>): void {
  writeFileSync(d.configPath, JSON.stringify({ ...base, ...changes }, null, 2) + '\n');
}

/** SIGHUP, then the first line after it that matches. */
async function hangUp(d: Chatd, pred: (l: LogLine) => boolean, what: string): Promise<LogLine> {
  const from = d.logs.length;
  process.kill(d.pid, 'SIGHUP');
  return d.waitLog((l) => d.logs.indexOf(l) >= from && pred(l), 10_000, what);
}

/**
 * Until every answer to what was sent before has arrived: a room sends a
 * reply in its turn's flush, with the events of that turn, so once the reply
 * to a second `who` (handled after the first flush) is here, everything of
 * the first flush is too (one socket to one socket on loopback keeps order).
 */
async function settled(c: RawClient, m: Membership, tag: string): Promise<void> {
  await c.request({ type: 'who', token: m.token, id: `${tag}/who1` }, m.port);
  await c.request({ type: 'who', token: m.token, id: `${tag}/who2` }, m.port);
}

/** n says at once; how many the room took (their msg came back) and how many it refused with RATE_LIMITED. */
async function burst(c: RawClient, m: Membership, tag: string, n = 20): Promise<{ acked: number; limited: number }> {
  for (let i = 0; i < n; i++) c.send({ type: 'say', token: m.token, id: `${tag}:${i}`, text: `${tag} ${i}` }, m.port);
  await settled(c, m, tag);
  const mine = (o: Obj) => typeof o['id'] === 'string' && o['id'].startsWith(`${tag}:`);
  return {
    acked: c.received.filter((o) => o['type'] === 'msg' && mine(o)).length,
    limited: c.received.filter((o) => o['type'] === 'error' && o['code'] === 'RATE_LIMITED' && mine(o)).length,
  };
}

t.test('SIGHUP: a lower say rate reaches a member already in its room; a bad file changes nothing; a new port is reported, not applied', async (t) => {
  const port = await freeUdpPort();
  const d = await startChatd(t, { port, sayRatePerSec: 1000, sayBurst: 1000 }, {}, { portInConfig: true });
  t.equal(d.port, port, 'the port of the file');
  const base = JSON.parse(readFileSync(d.configPath, 'utf8')) as Record<string, unknown>;
  const a = await RawClient.open(t);
  const m = await a.join(d.port, 'calm', 'ann');

  t.match(await burst(a, m, 'high'), { acked: 20, limited: 0 }, 'at 1000/s every say of a burst of 20 is taken');

  const secret = 'reload-secret-token-0123456789';
  rewriteConfig(d, base, { sayRatePerSec: 1, sayBurst: 3, adminToken: secret });
  const roomTold = d.waitLog((l) => l.event === 'room_reconfigured' && l['room'] === 'calm', 10_000, 'room_reconfigured');
  const reloaded = await hangUp(d, (l) => l.event === 'config_reloaded', 'config_reloaded');
  t.match(reloaded, { level: 'info', changed: ['sayRatePerSec', 'sayBurst', 'adminToken'], values: { sayRatePerSec: 1, sayBurst: 3 }, rooms: 1 });
  t.notOk('adminToken' in ((reloaded['values'] as Record<string, unknown> | undefined) ?? {}), 'the new token is named as changed, its value not shown');
  t.notOk(JSON.stringify(d.logs).includes(secret), 'its value is in no log line');
  t.match(await roomTold, { component: 'room', changed: ['sayRatePerSec', 'sayBurst'] }, 'the running room took them');

  const low = await burst(a, m, 'low');
  t.ok(low.limited >= 1, `the member now gets RATE_LIMITED (${low.limited} of 20)`);
  t.ok(low.acked <= 4, `and the room takes at most its new burst of 3, and one more a second (${low.acked} of 20)`);

  rewriteConfig(d, base, { sayRatePerSec: 1000, sayBurst: 1000, bogusKey: 1 });
  const unknown = await hangUp(d, (l) => l.event === 'config_reload_failed', 'config_reload_failed (unknown key)');
  t.match(unknown, { level: 'error', reason: /unknown key "bogusKey"/ });
  rewriteConfig(d, base, { sayRatePerSec: 1000, sayBurst: -5 });
  const bad = await hangUp(d, (l) => l.event === 'config_reload_failed', 'config_reload_failed (bad value)');
  t.match(bad, { level: 'error', reason: /"sayBurst" must be an integer/ });
  const after = await burst(a, m, 'after-bad');
  t.ok(after.acked <= 4, `the old limit still holds: ${after.acked} of 20 taken`);
  t.equal(d.logs.filter((l) => l.event === 'config_reloaded').length, 1, 'no reload was logged for the bad files');

  const other = await freeUdpPort();
  rewriteConfig(d, base, { port: other, sayRatePerSec: 1, sayBurst: 3, logLevel: 'info' });
  const partial = await hangUp(d, (l) => l.event === 'config_reload_partial', 'config_reload_partial');
  t.match(partial, { level: 'warn', notApplied: ['port'] }, 'the port is named as not applied');
  t.match(await d.waitLog((l) => l.event === 'config_reloaded' && d.logs.indexOf(l) > d.logs.indexOf(partial)), { changed: ['logLevel'] });
  const pinger = await RawClient.open(t);
  t.match(await pinger.request({ type: 'ping', id: 'old-port' }, port), { type: 'pong', id: 'old-port' }, 'chatd still answers on the old port');
  t.notOk(d.logs.some((l) => l.event === 'room_exit'), 'no room process died');
  await d.stop();
  t.same(d.exitInfo(), { code: 0, signal: null });
});

t.test('SIGHUP to the whole process group: chatd reloads, its room processes note it and keep serving', async (t) => {
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
  const ma = await a.join(d.port, 'hup', 'ann');
  await b.join(d.port, 'hup', 'bob');
  const roomPid = await d.roomPid('hup');
  const pooled = (await d.waitLog((l) => l.event === 'pool_process_ready' && l['roomPid'] !== roomPid, 15_000, 'a warm pooled process'))['roomPid'] as number;
  process.kill(-d.pid, 'SIGHUP');
  await d.waitLog((l) => l.event === 'config_reloaded', 10_000, 'config_reloaded');
  for (const pid of [roomPid, pooled]) {
    t.match(await d.waitLog((l) => l.event === 'room_signal' && l['pid'] === pid, 10_000, `room_signal of ${pid}`), { signal: 'SIGHUP', action: 'ignore' });
  }
  a.send({ type: 'say', token: ma.token, id: 'still', text: 'still here' }, ma.port);
  await b.next((o) => o['type'] === 'msg' && o['id'] === 'still', 10_000, 'a message after the SIGHUP');
  t.ok(isAlive(roomPid) && isAlive(pooled) && isAlive(d.pid), 'every process is still running');
  t.notOk(d.logs.some((l) => l.event === 'room_exit'), 'no room is reported crashed');
  await d.stop();
  t.same(d.exitInfo(), { code: 0, signal: null });
});

/** The whole lines of a log file (a line being written is left for the next look). */
function fileLines(path: string): LogLine[] {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return [];
  }
  return text
    .split('\n')
    .slice(0, -1)
    .map((l) => JSON.parse(l) as LogLine);
}

/** A log file has no reader to wake us: it is read again every 20 ms, for at most timeoutMs. */
async function waitFileLine(path: string, pred: (l: LogLine) => boolean, what: string, timeoutMs = 10_000): Promise<LogLine> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const hit = fileLines(path).find(pred);
    if (hit) return hit;
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what} in ${path}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('log rotation: the file moved away, then SIGHUP: new lines, the rooms\' too, go to a new file at the configured path', async (t) => {
  const dir = scratchDir(t);
  const logPath = join(dir, 'log', 'chatd.log');
  const rotated = join(dir, 'log', 'chatd.log.1');
  const configPath = join(dir, 'chatd.json');
  writeFileSync(configPath, JSON.stringify({ ...SLOW_MACHINE, dataDir: join(dir, 'data'), logLevel: 'debug', logDestination: logPath }));
  const proc = spawn(process.execPath, [CHATD_MAIN, '--config', configPath, '--port', '0', '--host', '127.0.0.1'], { stdio: ['ignore', 'pipe', 'pipe'] });
  const pid = proc.pid!;
  track(pid, 'chatd');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => proc.once('exit', (code, signal) => resolve({ code, signal })));
  t.teardown(async () => {
    for (const l of [...fileLines(rotated), ...fileLines(logPath)]) if (typeof l['roomPid'] === 'number') sigkill(l['roomPid']);
    sigkill(pid);
    await exited;
  });
  let stdout = '';
  proc.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
  const port = (await waitFileLine(logPath, (l) => l.event === 'listening', 'listening'))['port'] as number;
  const a = await RawClient.open(t);
  const before = await a.join(port, 'before', 'ann');
  await waitFileLine(logPath, (l) => l.event === 'room_bound' && l['room'] === 'before', 'room_bound of the first room');

  renameSync(logPath, rotated);
  process.kill(pid, 'SIGHUP');
  t.match(await waitFileLine(logPath, (l) => l.event === 'log_reopened', 'log_reopened in the new file'), { path: logPath });
  await waitFileLine(logPath, (l) => l.event === 'config_reloaded', 'config_reloaded in the new file');
  await a.join(port, 'after', 'ann');
  t.match(await waitFileLine(logPath, (l) => l.event === 'room_bound' && l['room'] === 'after', "the new room's line"), { component: 'room' }, 'a room line, relayed by the supervisor');
  t.match(await waitFileLine(logPath, (l) => l.event === 'member_joined' && l['room'] === 'after', 'member_joined'), { component: 'supervisor' });
  a.send({ type: 'leave', token: before.token, id: 'bye' }, before.port);
  await waitFileLine(logPath, (l) => l.event === 'member_left' && l['room'] === 'before', 'a line about the room from before the rotation');

  const old = fileLines(rotated);
  t.ok(old.some((l) => l.event === 'listening') && old.some((l) => l.event === 'room_bound' && l['room'] === 'before'), 'the moved file keeps what came before');
  t.notOk(old.some((l) => l.event === 'log_reopened' || l['room'] === 'after' || l.event === 'member_left'), 'and nothing after');

  process.kill(pid, 'SIGTERM');
  t.same(await within(exited, 15_000), { code: 0, signal: null }, 'chatd stops cleanly');
  t.ok(fileLines(logPath).some((l) => l.event === 'stopped'), 'its last line is in the new file');
  t.equal(stdout, '', 'nothing on stdout');
});

/** What ps shows of a process: its command line, which a process title replaces. */
function psArgs(pid: number): string {
  return execFileSync('ps', ['-o', 'args=', '-p', String(pid)], { encoding: 'utf8' }).trim();
}

function cmdline(pid: number): string {
  return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0+$/, '');
}

t.test("ps names each process: chatd, chatd room NAME, chatd room (pooled); leaves and evictions name the member's nick", async (t) => {
  const d = await startChatd(t, { unprovenTimeoutMs: 300 });
  const a = await RawClient.open(t);
  const long = 'a-room-name-of-the-longest-length-a-room-name-may-have-0123456789'.slice(0, 64);
  await a.join(d.port, 'lobby', 'ann');
  await a.join(d.port, long, 'ann', 'join-long');
  const args = `--config ${d.configPath} --port 0 --host 127.0.0.1`;
  t.equal(psArgs(d.pid), `chatd ${args}`, 'the supervisor, with its arguments (which config it runs)');
  t.equal(cmdline(d.pid), `chatd ${args}`);
  const lobby = await d.roomPid('lobby');
  t.equal(psArgs(lobby), 'chatd room lobby');
  t.equal(cmdline(lobby), 'chatd room lobby', '/proc/PID/cmdline says the same');
  t.equal(psArgs(await d.roomPid(long)), `chatd room ${long}`, 'a 64-character name whole');
  const pooled = await d.waitLog((l) => l.event === 'pool_process_ready' && !d.roomPids().includes(l['roomPid'] as number), 15_000, 'a warm pooled process');
  t.equal(psArgs(pooled['roomPid'] as number), 'chatd room (pooled)');

  const b = await RawClient.open(t);
  const mb = await b.join(d.port, 'lobby', 'bob');
  b.send({ type: 'leave', token: mb.token, id: 'bye' }, mb.port);
  t.match(await d.waitLog((l) => l.event === 'member_left' && l['member'] === mb.member, 10_000, 'member_left'), { component: 'supervisor', nick: 'bob', via: 'room' });
  // A join never followed by a datagram to the room: evicted after unprovenTimeoutMs.
  const c = await RawClient.open(t);
  const ghost = await c.request({ type: 'join', id: 'g', room: 'lobby', nick: 'casper' }, d.port);
  t.match(await d.waitLog((l) => l.event === 'member_evicted' && l['member'] === ghost['member'], 10_000, 'member_evicted'), { component: 'supervisor', nick: 'casper', proven: false });
  for (const l of d.logs.filter((l) => l.component === 'supervisor')) {
    if (l['pid'] !== d.pid) t.fail(`a supervisor line with another pid: ${JSON.stringify(l)}`);
  }
});
