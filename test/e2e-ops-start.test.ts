// Start-up and storage failures as the operator meets them: each is one
// "chatd: ..." line on stderr naming the cause and the fix, one JSON log
// line (no stack for an expected failure) and an exit code of its own; and
// dataDir is owned by one running chatd (its lock), so a second one stops
// before touching anything.
import { createSocket } from 'node:dgram';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { EXIT, EXIT_MEANINGS } from '../supervisor/exit-codes.js';
import { startChatd } from './helpers/chatd.js';
import { deadPid, mountTmpfs, noMounts, remountReadOnly, runChatd, scratchDir, writeConfig, type Run } from './helpers/ops.js';
import { RawClient } from './helpers/raw-client.js';

const root = new URL('../../', import.meta.url);
/** Why tmpfs tests are skipped here, if they are. */
const noTmpfs = { skip: noMounts() ?? false };

/** The operator's view of a failed start: exactly one stderr line, exactly one JSON line, no stack. */
function assertOneLine(t: Test, r: Run, code: number, event: string, says: RegExp): void {
  t.equal(r.code, code, `exit code ${code}`);
  const errLines = r.stderr.split('\n').filter((l) => l !== '');
  t.equal(errLines.length, 1, `one line on stderr: ${r.stderr}`);
  t.match(errLines[0], /^chatd: /);
  t.match(errLines[0], says);
  t.equal(r.logs.length, 1, `one JSON log line: ${r.stdout}`);
  t.match(r.logs[0], { level: 'fatal', event, exitCode: code });
  t.notOk(r.stdout.includes('"stack"'), 'no stack trace for an expected failure');
  t.ok(r.ms < 10_000, `done in ${r.ms} ms`);
}

t.test('port in use: exit 3, the port and the fix on stderr', async (t) => {
  const holder = createSocket('udp4');
  await new Promise<void>((resolve) => holder.bind(0, '127.0.0.1', resolve));
  t.teardown(() => holder.close());
  const port = holder.address().port;
  const dir = scratchDir(t);
  const config = writeConfig(dir, 'c.json', { dataDir: join(dir, 'data') });
  const r = await runChatd(t, ['--config', config, '--port', String(port), '--host', '127.0.0.1']);
  assertOneLine(t, r, EXIT.cannotListen, 'listen_failed', new RegExp(`cannot listen on 127\\.0\\.0\\.1:${port}/udp: the port is in use.*--port`));
  t.match(r.logs[0], { code: 'EADDRINUSE', port });
  t.notOk(existsSync(join(dir, 'data', 'chatd.lock')), 'the dataDir lock was released');
});

t.test('dataDir that is a file: exit 4, "not a directory"', async (t) => {
  const dir = scratchDir(t);
  const file = join(dir, 'data');
  writeFileSync(file, 'not a directory\n');
  const config = writeConfig(dir, 'c.json', { dataDir: file });
  const r = await runChatd(t, ['--config', config, '--port', '0', '--host', '127.0.0.1']);
  assertOneLine(t, r, EXIT.dataDirUnusable, 'data_dir_unusable', /dataDir ".*data" is not a directory/);
  t.equal(readFileSync(file, 'utf8'), 'not a directory\n', 'the file is untouched');
});

t.test('read-only dataDir: exit 4 at start, "read-only file system"', noTmpfs, async (t) => {
  const mnt = mountTmpfs(t, 256);
  mkdirSync(join(mnt, 'data'));
  remountReadOnly(mnt);
  const dir = scratchDir(t);
  const config = writeConfig(dir, 'c.json', { dataDir: join(mnt, 'data') });
  const r = await runChatd(t, ['--config', config, '--port', '0', '--host', '127.0.0.1']);
  assertOneLine(t, r, EXIT.dataDirUnusable, 'data_dir_unusable', /read-only file system: mount it read-write/);
  t.match(r.logs[0], { code: 'EROFS' });
});

t.test('dataDir this user may not write: exit 4, "no permission"', { skip: process.getuid?.() === 0 ? false : 'needs root to run chatd as another user' }, async (t) => {
  const dir = scratchDir(t);
  chmodSync(dir, 0o755); // the config is readable by the other user; the dataDir in it is root's
  const dataDir = join(dir, 'data');
  mkdirSync(dataDir, { mode: 0o755 });
  const config = writeConfig(dir, 'c.json', { dataDir });
  const r = await runChatd(t, ['--config', config, '--port', '0', '--host', '127.0.0.1'], 15_000, { uid: 65534, gid: 65534 });
  assertOneLine(t, r, EXIT.dataDirUnusable, 'data_dir_unusable', /no permission to write in dataDir ".*" \(running as uid 65534\): fix its owner or mode/);
  t.match(r.logs[0], { code: 'EACCES' });
});

t.test('dataDir on a full file system: exit 4, "no space left"', noTmpfs, async (t) => {
  const mnt = mountTmpfs(t, 64);
  // Fill it: the write stops at ENOSPC.
  try {
    writeFileSync(join(mnt, 'filler'), Buffer.alloc(1024 * 1024));
  } catch (err) {
    t.equal((err as NodeJS.ErrnoException).code, 'ENOSPC', 'the tmpfs is full');
  }
  const dir = scratchDir(t);
  const config = writeConfig(dir, 'c.json', { dataDir: mnt });
  const r = await runChatd(t, ['--config', config, '--port', '0', '--host', '127.0.0.1']);
  assertOneLine(t, r, EXIT.dataDirUnusable, 'data_dir_unusable', /no space left/);
});

t.test('dataDir turned read-only while running: a new room fails with ROOM_UNAVAILABLE, no server path in the reply', noTmpfs, async (t) => {
  const mnt = mountTmpfs(t, 1024);
  const d = await startChatd(t, { dataDir: mnt });
  remountReadOnly(mnt);
  const a = await RawClient.open(t);
  // Padded: an unproven endpoint's error reply must fit its request's budget, and the detailed message would not.
  const reply = await a.request({ type: 'join', id: 'j', room: 'rofs', nick: 'ann', pad: 'x'.repeat(600) }, d.port);
  t.match(reply, { type: 'error', code: 'ROOM_UNAVAILABLE' });
  t.notOk(String(reply['message']).includes(mnt), `no server path in "${String(reply['message'])}"`);
  t.notOk(/EROFS|\.jsonl/.test(String(reply['message'])), 'no file-system detail either');
  const failed = await d.waitLog((l) => l.event === 'room_start_failed', 10_000, 'room_start_failed');
  t.match(JSON.stringify(failed['err']), /EROFS/, 'the log has the cause');
});

t.test('a second chatd on the same dataDir exits 5 naming the first; the first keeps its journals and keeps serving', async (t) => {
  const d = await startChatd(t);
  const dataDir = join(d.dir, 'data');
  const a = await RawClient.open(t);
  const m = await a.join(d.port, 'kept', 'ann');
  a.send({ type: 'say', token: m.token, id: 's1', text: 'before' }, m.port);
  await a.next((o) => o['type'] === 'msg' && o['id'] === 's1');
  const journals = readdirSync(join(dataDir, 'rooms')).filter((f) => f.endsWith('.jsonl'));
  t.equal(journals.length, 1, 'the room has its journal');
  t.equal(readFileSync(join(dataDir, 'chatd.lock'), 'utf8'), `${d.pid}\n`, 'the lock holds the running pid');

  const config = writeConfig(d.dir, 'second.json', { dataDir });
  const r = await runChatd(t, ['--config', config, '--port', '0', '--host', '127.0.0.1']);
  assertOneLine(t, r, EXIT.dataDirLocked, 'data_dir_locked', new RegExp(`in use by another chatd \\(pid ${d.pid}, lock file .*chatd\\.lock\\): stop that chatd first`));
  t.match(r.logs[0], { holderPid: d.pid });

  t.same(readdirSync(join(dataDir, 'rooms')).filter((f) => f.endsWith('.jsonl')), journals, 'the journal is still there');
  t.equal(readFileSync(join(dataDir, 'chatd.lock'), 'utf8'), `${d.pid}\n`, 'the lock is still the first one\'s');
  a.send({ type: 'say', token: m.token, id: 's2', text: 'after' }, m.port);
  t.match(await a.next((o) => o['type'] === 'msg' && o['id'] === 's2'), { seq: 3 }, 'the first chatd still serves, history intact');
  t.match(await a.request({ type: 'ping', id: 'p' }, d.port), { type: 'pong' });
});

t.test('a stale lock is taken over and logged: its pid is dead, or alive but not a chatd', async (t) => {
  for (const [name, pid, why] of [
    ['dead', await deadPid(), 'not running'],
    // this test process: alive, and not a chatd
    ['other program', process.pid, 'another program'],
  ] as const) {
    await t.test(name, async (t) => {
      const dir = scratchDir(t);
      const dataDir = join(dir, 'data');
      mkdirSync(dataDir);
      writeFileSync(join(dataDir, 'chatd.lock'), `${pid}\n`);
      const d = await startChatd(t, { dataDir });
      t.match(d.logs.find((l) => l.event === 'lock_taken_over'), { stalePid: pid, why: new RegExp(why) });
      t.equal(readFileSync(join(dataDir, 'chatd.lock'), 'utf8'), `${d.pid}\n`, 'the lock is now chatd\'s');
    });
  }
});

t.test('the lock is released when chatd stops', async (t) => {
  const d = await startChatd(t);
  const lock = join(d.dir, 'data', 'chatd.lock');
  t.ok(existsSync(lock), 'locked while running');
  d.proc.kill('SIGTERM');
  t.same(await d.exited, { code: 0, signal: null });
  t.notOk(existsSync(lock), 'released on exit');
});

t.test('--help and the README list every exit code', async (t) => {
  const r = await runChatd(t, ['--help']);
  t.equal(r.code, 0);
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  for (const [code, meaning] of EXIT_MEANINGS) {
    t.ok(r.stdout.includes(`${String(code).padStart(2)}  ${meaning}`), `--help: ${code}`);
    t.ok(readme.split('\n').some((l) => l.startsWith(`| \`${code}\` |`)), `README: ${code}`);
  }
});
