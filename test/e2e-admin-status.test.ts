// /status, /healthz and /readyz end to end, and the admin listener as an
// operator meets it: /status says what the clients see (rooms, members,
// seq), adminToken guards every path (401 without it, nothing echoed or
// logged), /readyz turns 503 while chatd is stopping, adminHost "" turns
// the listener off, a port in use stops chatd at start (exit 3), and
// requests beyond GET/HEAD or the size limits are refused.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import t from 'tap';
import type { AdminStatus } from '../lib/admin-status.js';
import { adminAddress, get, getJson, until } from './helpers/admin.js';
import { startChatd } from './helpers/chatd.js';
import { runChatd, scratchDir, writeConfig } from './helpers/ops.js';
import { RawClient, type Obj } from './helpers/raw-client.js';

const PACKAGE_VERSION = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;
const TOKEN = 'admin-token-for-tests-0123456789';

/** A TCP listener on a free loopback port (held until teardown). */
async function holdPort(t: { teardown(fn: () => unknown): void }): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return { port: (server.address() as { port: number }).port, server };
}

t.test('/status says what the clients see: rooms, members, seq, processes; in the declared shape', async (t) => {
  const c = await startChatd(t, { statsIntervalMs: 100 });
  const admin = adminAddress(c.logs)!;
  const ann = await RawClient.open(t);
  const bob = await RawClient.open(t, '127.0.0.2');
  const a = await ann.join(c.port, 'lobby', 'ann');
  await bob.join(c.port, 'lobby', 'bob');
  await ann.join(c.port, 'quiet', 'ann');
  for (let i = 1; i <= 3; i++) ann.send({ type: 'say', token: a.token, id: `s${i}`, text: `hi ${i}` }, a.port);
  const last = (await bob.next((o) => o['type'] === 'msg' && o['id'] === 's3', 10_000, 'the third message')) as Obj;
  const seen = last['seq'] as number;
  const s = await until(async () => {
    const st = await getJson<AdminStatus>(admin, '/status');
    // seq is as of each room's last report (every statsIntervalMs).
    return st.rooms.find((r) => r.room === 'lobby')?.seq === seen && st.rooms.find((r) => r.room === 'quiet')?.seq === 1 ? st : undefined;
  }, 10_000, `/status to show lobby at seq ${seen} and quiet at 1`);

  t.match(s, { version: PACKAGE_VERSION, node: null, pid: c.pid, state: 'running', cluster: null, control: { host: '127.0.0.1', port: c.port, addresses: ['127.0.0.1'] } });
  t.match(s.configDigest, /^[0-9a-f]{16}$/);
  t.ok(Date.parse(s.startedAt) <= Date.now() && s.uptimeMs >= 0, 'startedAt and uptime');
  t.same(s.rooms.map((r) => r.room), ['lobby', 'quiet'], 'every room, sorted by name');
  const lobby = s.rooms[0]!;
  t.match(lobby, { state: 'running', port: a.port, pid: await c.roomPid('lobby'), members: 2, seq: seen, restarts: 0, incarnation: 1 });
  t.ok((lobby.rssBytes ?? 0) > 10e6 && (lobby.cpuSeconds ?? 0) > 0, 'the room process\'s memory and CPU');
  t.match(s.rooms[1], { room: 'quiet', members: 1, seq: 1 });
  t.match(s.totals, { rooms: 2, members: 3, restarts: 0, evictions: 0 });
  t.same(s.recent, []);
  const keys = (o: object) => Object.keys(o).sort();
  t.same(keys(s), ['cluster', 'configDigest', 'control', 'node', 'pid', 'recent', 'rooms', 'startedAt', 'state', 'totals', 'uptimeMs', 'version']);
  t.same(keys(s.totals), ['deliveriesPerSec', 'evictions', 'members', 'messagesPerSec', 'restarts', 'rooms']);
  t.same(keys(lobby), ['cpuSeconds', 'deliveriesPerSec', 'incarnation', 'members', 'messagesPerSec', 'pid', 'port', 'restarts', 'room', 'rssBytes', 'seq', 'state']);

  // A steady sender: the rates come from the room's reports.
  const timer = setInterval(() => ann.send({ type: 'say', token: a.token, id: `r${Date.now()}`, text: 'steady' }, a.port), 50);
  t.teardown(() => clearInterval(timer));
  const busy = await until(async () => {
    const st = await getJson<AdminStatus>(admin, '/status');
    return st.totals.messagesPerSec > 2 && st.totals.deliveriesPerSec > 4 ? st : undefined;
  }, 10_000, 'rates to show the steady sender');
  t.ok(busy.rooms[0]!.messagesPerSec > 2, `lobby: ${busy.rooms[0]!.messagesPerSec} msgs/s`);
  clearInterval(timer);

  const head = await get(admin, '/status', { method: 'HEAD' });
  t.equal(head.status, 200);
  t.equal(head.body, '', 'HEAD: headers only');
  t.equal(head.headers['cache-control'], 'no-store');
  t.equal((await get(admin, '/healthz')).status, 200);
  t.same(JSON.parse((await get(admin, '/readyz')).body), { status: 'ready' });
});

t.test('a room SIGKILLed shows in /status: its incarnation, its restarts, a recent event', async (t) => {
  const c = await startChatd(t, { statsIntervalMs: 100 });
  const admin = adminAddress(c.logs)!;
  const ann = await RawClient.open(t);
  await ann.join(c.port, 'lobby', 'ann');
  const pid = await c.roomPid('lobby', 1);
  process.kill(pid, 'SIGKILL');
  const next = await c.roomPid('lobby', 2, 20_000);
  const s = await until(async () => {
    const st = await getJson<AdminStatus>(admin, '/status');
    return st.rooms[0]?.incarnation === 2 && st.rooms[0].pid === next ? st : undefined;
  }, 10_000, 'the second incarnation in /status');
  t.match(s.rooms[0], { room: 'lobby', state: 'running', restarts: 1, members: 1 });
  t.equal(s.totals.restarts, 1);
  t.match(s.recent, [{ event: 'room_restarted', room: 'lobby', detail: /SIGKILL/ }]);
  t.ok(!Number.isNaN(Date.parse(s.recent[0]!.at)), 'an ISO time');
});

t.test('adminToken: every path needs it (401 without, or with another), nothing of it is echoed or logged', async (t) => {
  const c = await startChatd(t, { adminToken: TOKEN });
  const admin = adminAddress(c.logs)!;
  for (const path of ['/status', '/metrics', '/healthz', '/readyz', '/nope']) {
    const none = await get(admin, path);
    t.equal(none.status, 401, `${path} without a token`);
    t.match(none.headers['www-authenticate'], /^Bearer/);
    const wrong = await get(admin, path, { token: `${TOKEN}x` });
    t.equal(wrong.status, 401, `${path} with another token`);
    t.notMatch(wrong.body, TOKEN, 'the reply does not echo it');
  }
  t.equal((await get(admin, '/status', { headers: { authorization: `Basic ${TOKEN}` } })).status, 401, 'only the Bearer scheme');
  for (const path of ['/status', '/metrics', '/healthz', '/readyz']) t.equal((await get(admin, path, { token: TOKEN })).status, 200, `${path} with the token`);
  t.equal((await get(admin, '/nope', { token: TOKEN })).status, 404, 'an unknown path, once authorized: 404');
  const status = await getJson<AdminStatus>(admin, '/status', { token: TOKEN });
  t.notMatch(JSON.stringify(status), TOKEN, '/status does not show it');
  t.notMatch((await get(admin, '/metrics', { token: TOKEN })).body, TOKEN, '/metrics does not show it');
  await c.waitLog((l) => l.event === 'admin_unauthorized', 5_000, 'admin_unauthorized');
  await c.stop();
  t.notOk(c.logs.some((l) => JSON.stringify(l).includes(TOKEN)), 'no log line holds the token');
});

t.test('/readyz: 200 while running, 503 with a reason while stopping (a room that is slow to close), /healthz 200 until the end', async (t) => {
  const c = await startChatd(t, { shutdownTimeoutMs: 4_000 });
  const admin = adminAddress(c.logs)!;
  t.equal((await get(admin, '/readyz')).status, 200);
  const ann = await RawClient.open(t);
  await ann.join(c.port, 'lobby', 'ann');
  const room = await c.roomPid('lobby');
  // A stopped room cannot read its shutdown: chatd waits shutdownTimeoutMs for it, then kills it.
  process.kill(room, 'SIGSTOP');
  t.teardown(() => {
    try {
      process.kill(room, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  c.proc.kill('SIGTERM');
  await c.waitLog((l) => l.event === 'shutting_down', 5_000, 'shutting_down');
  const r = await get(admin, '/readyz');
  t.equal(r.status, 503, 'not ready while stopping');
  t.match(JSON.parse(r.body), { status: 'not ready', reason: /stopping/ });
  t.equal((await get(admin, '/healthz')).status, 200, 'still alive');
  t.equal((await getJson<AdminStatus>(admin, '/status')).state, 'stopping');
  t.same(await c.exited, { code: 0, signal: null }, 'then it stops as usual');
  await t.rejects(get(admin, '/healthz', { timeoutMs: 2_000 }), 'and the listener is gone with it');
});

t.test('adminHost "": no admin listener, nothing named in the logs, the port stays free', async (t) => {
  const held = await holdPort(t);
  await new Promise<void>((resolve) => held.server.close(() => resolve())); // a port known to be free
  const c = await startChatd(t, { adminHost: '', adminPort: held.port });
  t.equal(adminAddress(c.logs), undefined, 'the listening line names no admin listener');
  t.notOk(c.logs.some((l) => l.event === 'admin_listening'));
  await t.rejects(get(`127.0.0.1:${held.port}`, '/healthz', { timeoutMs: 2_000 }), { code: 'ECONNREFUSED' });
});

t.test('an admin port in use stops chatd at start: exit 3, one line naming the listener and the way out', async (t) => {
  const held = await holdPort(t);
  const dir = scratchDir(t);
  const config = writeConfig(dir, 'c.json', { dataDir: `${dir}/data`, adminPort: held.port });
  const r = await runChatd(t, ['--config', config, '--port', '0', '--host', '127.0.0.1']);
  t.equal(r.code, 3, 'exit 3: cannot listen');
  t.match(r.stderr, new RegExp(`^chatd: cannot listen on 127\\.0\\.0\\.1:${held.port}/tcp \\(the admin listener\\): the port is in use.*"adminPort".*"adminHost"`));
  t.equal(r.stderr.trim().split('\n').length, 1, 'one line');
  t.match(r.logs.find((l) => l.level === 'fatal'), { event: 'admin_listen_failed', adminPort: held.port, code: 'EADDRINUSE' });
  t.notOk(r.logs.some((l) => l.event === 'listening'), 'never said it listens');
});

t.test('bounded requests: GET and HEAD only, no body, small headers, unknown paths 404 without echoing them', async (t) => {
  const c = await startChatd(t, {});
  const admin = adminAddress(c.logs)!;
  for (const method of ['POST', 'PUT', 'DELETE', 'OPTIONS']) {
    const r = await get(admin, '/status', { method });
    t.equal(r.status, 405, method);
    t.equal(r.headers['allow'], 'GET, HEAD');
  }
  t.equal((await get(admin, '/status', { method: 'GET', body: 'x'.repeat(100), headers: { 'content-length': '100' } })).status, 413, 'a body: 413');
  const probe = '/secret-looking-path-<script>';
  const nf = await get(admin, encodeURI(probe));
  t.equal(nf.status, 404);
  t.notMatch(nf.body, 'secret-looking', 'the path is not echoed');
  t.equal((await get(admin, `/status?${'q'.repeat(2_000)}`)).status, 414, 'a long URL: 414');
  const big = await get(admin, '/status', { headers: { 'x-big': 'y'.repeat(16 * 1024) } }).catch((err: Error) => ({ status: -1, body: err.message }));
  // 431, or the connection reset under the rest of the headers being written.
  t.ok(big.status === 431 || big.status === -1, `oversized headers refused (${big.status}: ${big.body.slice(0, 80)})`);
  t.equal((await get(admin, '/healthz')).status, 200, 'and the listener still serves');
});
