// `chatd status` as an operator runs it: the compiled chatd as a child
// process against a stand-in admin listener (test/helpers/status-fixture.ts),
// so the table, --json and every exit code are checked without a running
// chatd; the config file is read as chatd reads it; and once against a
// real chatd.
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import t from 'tap';
import { STATUS_EXIT, STATUS_EXIT_MEANINGS } from '../supervisor/status-command.js';
import { runChatd, scratchDir, writeConfig } from './helpers/ops.js';
import { fakeAdmin, json, statusFixture } from './helpers/status-fixture.js';
import { startChatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

const root = new URL('../../', import.meta.url);
const TOKEN = 'test-admin-token-0123456789';

const status = (args: string[], timeoutMs?: number) => runChatd(t, ['status', ...args], timeoutMs);

/** A port nothing listens on: taken from the OS, then let go. */
async function closedPort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((resolve) => s.listen(0, '127.0.0.1', resolve));
  const port = (s.address() as { port: number }).port;
  await new Promise<void>((resolve) => s.close(() => resolve()));
  return port;
}

t.test('the table: header, totals, rooms busiest first, recent events newest first, cluster nodes', async (t) => {
  const admin = await fakeAdmin(t, json(() => statusFixture()));
  const r = await status(['--admin', `127.0.0.1:${admin.port}`]);
  t.equal(r.code, STATUS_EXIT.ok, r.stderr);
  t.equal(r.stderr, '');
  const lines = r.stdout.split('\n');
  t.match(lines[0], /^chatd 0\.1\.0 on node-1, pid 4242: running, up 2h 03m \(since 2025-01-02T03:04:05\.000Z\), config sha256:3f2a9c1b$/);
  t.match(lines[1], /^control 0\.0\.0\.0:7447\/udp \(127\.0\.0\.1, 192\.0\.2\.10\)$/);
  t.match(lines[2], /^rooms 5, members 47, 13\.5 msgs\/s, 402\.5 deliveries\/s, restarts 3, evictions 2$/);

  const head = lines.findIndex((l) => l.startsWith('ROOM '));
  t.match(lines[head], /^ROOM\s+STATE\s+MEMBERS\s+MSGS\/S\s+DELIV\/S\s+SEQ\s+RESTARTS\s+PORT\s+PID\s+MEMORY$/);
  const rows = lines.slice(head + 1, head + 6).map((l) => l.split(/\s{2,}|\s(?=\S)/));
  // messages/s decides first; quiet (0.5) beats the idle rooms; the two idle
  // rooms tie on messages/s and members, so the name decides.
  t.same(
    rows.map((r) => r[0]),
    ['lobby', 'dev', 'quiet', 'idle-a', 'idle-b'],
    'sorted by messages/s, then members, then name',
  );
  t.match(lines[head + 1], /^lobby\s+running\s+30\s+12\.0\s+360\.0\s+98765\s+2\s+40001\s+10001\s+58\.5 MiB$/);
  t.match(lines[head + 4], /^idle-a\s+restarting\s+2\s+0\.0\s+0\.0\s+3\s+1\s+40004\s+-\s+-$/, 'no pid and no memory while restarting');

  const recent = lines.findIndex((l) => l.startsWith('recent'));
  t.ok(recent > head, 'recent events after the rooms');
  t.match(lines[recent + 1], /^AT\s+EVENT\s+ROOM\s+DETAIL$/);
  t.match(lines[recent + 2], /^2025-01-02T05:07:30\.000Z\s+room_gave_up\s+old\s+6 restarts within 10000 ms$/);
  t.match(lines[recent + 3], /member_evicted\s+quiet\s+bob: no heartbeat/);
  t.match(lines[recent + 4], /room_restarted\s+lobby\s+exit code 70/);

  const cluster = lines.findIndex((l) => l.startsWith('cluster:'));
  t.match(lines[cluster], /^cluster: 2 nodes, 11 rooms$/);
  t.match(lines[cluster + 2], /^node-1\s+127\.0\.0\.1:7447\s+\(this node\)$/);
  t.match(lines[cluster + 3], /^node-2\s+127\.0\.0\.2:7447$/);
});

t.test('a single node with no rooms and no events: says so, no cluster part', async (t) => {
  const doc = statusFixture({ node: null, rooms: [], recent: [], cluster: null, totals: { rooms: 0, members: 0, messagesPerSec: 0, deliveriesPerSec: 0, restarts: 0, evictions: 0 } });
  const admin = await fakeAdmin(t, json(() => doc));
  const r = await status(['--admin', `127.0.0.1:${admin.port}`]);
  t.equal(r.code, STATUS_EXIT.ok, r.stderr);
  t.match(r.stdout, /^chatd 0\.1\.0, pid 4242: running/);
  t.match(r.stdout, /\nno rooms\n/);
  t.notMatch(r.stdout, /recent|cluster/);
});

t.test('control characters from the wire do not reach the terminal', async (t) => {
  const doc = statusFixture({ recent: [{ at: '2025-01-02T05:00:01.000Z', event: 'member_evicted', room: 'lobby', detail: 'x\u001b]0;owned\u0007y' }] });
  const admin = await fakeAdmin(t, json(() => doc));
  const r = await status(['--admin', `127.0.0.1:${admin.port}`]);
  t.equal(r.code, STATUS_EXIT.ok, r.stderr);
  t.notMatch(r.stdout, /[\u001b\u0007]/);
  t.match(r.stdout, /x\?\]0;owned\?y/);
});

t.test('--json prints the document as received', async (t) => {
  const doc = statusFixture();
  const admin = await fakeAdmin(t, json(() => doc));
  const r = await status(['--admin', `127.0.0.1:${admin.port}`, '--json']);
  t.equal(r.code, STATUS_EXIT.ok, r.stderr);
  t.same(JSON.parse(r.stdout), doc);
  t.equal(r.stdout, JSON.stringify(doc) + '\n', 'byte for byte, one line');
});

t.test('exit 2: nothing listening (connection refused)', async (t) => {
  const port = await closedPort();
  const r = await status(['--admin', `127.0.0.1:${port}`]);
  t.equal(r.code, STATUS_EXIT.notRunning);
  t.equal(r.stderr, `chatd status: chatd is not running at 127.0.0.1:${port} (connection refused)\n`);
  t.equal(r.stdout, '');
});

t.test('exit 4: the listener wants a token; the right one is sent as a bearer token', async (t) => {
  const admin = await fakeAdmin(t, json(() => statusFixture()), { token: TOKEN });
  const none = await status(['--admin', `127.0.0.1:${admin.port}`]);
  t.equal(none.code, STATUS_EXIT.unauthorized);
  t.equal(none.stderr, 'chatd status: the admin listener wants a token: --token or adminToken in the config\n');
  const wrong = await status(['--admin', `127.0.0.1:${admin.port}`, '--token', 'not-the-token-at-all']);
  t.equal(wrong.code, STATUS_EXIT.unauthorized);
  t.match(wrong.stderr, /refused the token \(HTTP 401\)/);
  const right = await status(['--admin', `127.0.0.1:${admin.port}`, '--token', TOKEN]);
  t.equal(right.code, STATUS_EXIT.ok, right.stderr);
  t.same(admin.auths, [undefined, 'Bearer not-the-token-at-all', `Bearer ${TOKEN}`]);
});

t.test('exit 5: answers that are not a chatd status', async (t) => {
  const cases: [string, (res: import('node:http').ServerResponse) => void, RegExp][] = [
    ['not JSON', (res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>hello</html>'), /answered with something that is not JSON/],
    ['JSON of another shape', (res) => res.writeHead(200).end('{"ok":true}'), /JSON that is not a chatd status \("version" is not a string\)/],
    ['a room without numbers', (res) => res.writeHead(200).end(JSON.stringify(statusFixture({ rooms: [{ room: 'x' } as never] }))), /room "x": "port" is not a number/],
    ['HTTP 503', (res) => res.writeHead(503).end('stopping\n'), /answered HTTP 503: stopping/],
    ['HTTP 404', (res) => res.writeHead(404).end(), /answered HTTP 404$/m],
  ];
  for (const [what, answer, says] of cases) {
    const admin = await fakeAdmin(t, (_req, res) => answer(res));
    const r = await status(['--admin', `127.0.0.1:${admin.port}`]);
    t.equal(r.code, STATUS_EXIT.badAnswer, `${what}: exit 5`);
    t.match(r.stderr, says, what);
    t.equal(r.stdout, '', `${what}: nothing on stdout`);
  }
});

t.test('exit 5: no answer within --timeout, before or after the headers', async (t) => {
  const silent = await fakeAdmin(t, () => {
    /* never answers */
  });
  const a = await status(['--admin', `127.0.0.1:${silent.port}`, '--timeout', '300']);
  t.equal(a.code, STATUS_EXIT.badAnswer);
  t.equal(a.stderr, `chatd status: no answer from 127.0.0.1:${silent.port} within 300 ms\n`);
  t.ok(a.ms < 5_000, `gave up in ${a.ms} ms`);

  const trickle = await fakeAdmin(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('{"version":');
  });
  const b = await status(['--admin', `127.0.0.1:${trickle.port}`, '--timeout', '300']);
  t.equal(b.code, STATUS_EXIT.badAnswer);
  t.equal(b.stderr, `chatd status: no answer from 127.0.0.1:${trickle.port} within 300 ms\n`);
});

t.test('the config file: adminHost, adminPort and adminToken as chatd reads them; flags win', async (t) => {
  const admin = await fakeAdmin(t, json(() => statusFixture()), { token: TOKEN });
  const dir = scratchDir(t, 'chatd-status-');
  const config = writeConfig(dir, 'c.json', { adminHost: '127.0.0.1', adminPort: admin.port, adminToken: TOKEN });
  const r = await status(['--config', config]);
  t.equal(r.code, STATUS_EXIT.ok, r.stderr);
  t.match(r.stdout, /^chatd 0\.1\.0 on node-1/);

  // A listener on every address is asked on loopback.
  const wildcard = writeConfig(dir, 'w.json', { adminHost: '0.0.0.0', adminPort: admin.port, adminToken: TOKEN });
  t.equal((await status(['--config', wildcard])).code, STATUS_EXIT.ok, '0.0.0.0 is asked on 127.0.0.1');

  const refused = await closedPort();
  const viaFlag = await status(['--config', config, '--admin', `127.0.0.1:${refused}`]);
  t.equal(viaFlag.code, STATUS_EXIT.notRunning, '--admin wins over the config');
  t.match(viaFlag.stderr, new RegExp(`not running at 127\\.0\\.0\\.1:${refused}`));
  const tokenFlag = await status(['--config', config, '--token', 'another-token-0123456789']);
  t.equal(tokenFlag.code, STATUS_EXIT.unauthorized, '--token wins over the config');
  t.equal(admin.auths.at(-1), 'Bearer another-token-0123456789');
});

t.test('exit 3: the admin listener is off in the config', async (t) => {
  const dir = scratchDir(t, 'chatd-status-');
  const config = writeConfig(dir, 'off.json', { adminHost: '' });
  const r = await status(['--config', config]);
  t.equal(r.code, STATUS_EXIT.adminOff);
  t.match(r.stderr, /^chatd status: the admin listener is off in .*off\.json \("adminHost" is empty\): set "adminHost"/);
  // --admin names a listener the config does not know about: it is asked.
  const admin = await fakeAdmin(t, json(() => statusFixture()));
  t.equal((await status(['--config', config, '--admin', `127.0.0.1:${admin.port}`])).code, STATUS_EXIT.ok);
});

t.test('exit 1: bad usage or config', async (t) => {
  const dir = scratchDir(t, 'chatd-status-');
  const anyPort = writeConfig(dir, 'zero.json', { adminPort: 0 });
  const cases: [string[], RegExp][] = [
    [['--bogus'], /Unknown option '--bogus'/],
    [['--admin', 'localhost'], /--admin must be HOST:PORT/],
    [['--admin', '127.0.0.1:99999'], /--admin must be HOST:PORT/],
    [['--admin', '[nonsense]:7448'], /--admin must be HOST:PORT/],
    [['--timeout', 'soon'], /--timeout must be a positive integer/],
    [['--config', `${dir}/missing.json`], /cannot read config file/],
    [['--config', anyPort], /"adminPort" 0 \(any free port\): pass --admin HOST:PORT/],
    [['extra'], /Unexpected argument 'extra'/],
  ];
  for (const [args, says] of cases) {
    const r = await status(args);
    t.equal(r.code, STATUS_EXIT.usage, `${args.join(' ')}: exit 1`);
    t.match(r.stderr, says, args.join(' '));
  }
});

t.test('--help, chatd --help and the README tell of chatd status and its exit codes', async (t) => {
  const help = await status(['--help']);
  t.equal(help.code, 0);
  const readme = readFileSync(new URL('README.md', root), 'utf8');
  for (const [code, meaning] of STATUS_EXIT_MEANINGS) {
    t.ok(help.stdout.includes(`  ${code}  ${meaning}`), `status --help: ${code}`);
    t.ok(readme.includes(`| \`${code}\` | ${meaning}`), `README: ${code}`);
  }
  const chatdHelp = await runChatd(t, ['--help']);
  t.match(chatdHelp.stdout, /chatd status \[--config FILE\] \[--admin HOST:PORT\] \[--token TOKEN\] \[--json\] \[--timeout MS\]/);
});

t.test('against a running chatd: its rooms, members and seq as clients see them; --json is its /status', async (t) => {
  const d = await startChatd(t, { adminToken: TOKEN });
  const listening = await d.waitLog((l) => l.event === 'listening', 15_000, 'listening');
  const admin = String(listening['admin']);
  const c = await RawClient.open(t);
  const m = await c.join(d.port, 'ops-room', 'ann');
  c.send({ type: 'say', token: m.token, id: 's1', text: 'hello' }, m.port);
  const ack = await c.next((o) => o['type'] === 'msg' && o['id'] === 's1', 10_000, 'the ack');
  // The room reports every statsIntervalMs: wait (bounded) until chatd's view has the say.
  let doc: { rooms: Array<{ room: string; members: number; seq: number }> } = { rooms: [] };
  for (let i = 0; i < 50; i++) {
    const r = await status(['--admin', admin, '--token', TOKEN, '--json']);
    t.equal(r.code, STATUS_EXIT.ok, r.stderr);
    doc = JSON.parse(r.stdout) as typeof doc;
    if (doc.rooms[0]?.seq === ack['seq']) break;
    await new Promise((res) => setTimeout(res, 100));
  }
  t.same(doc.rooms.map((r) => ({ room: r.room, members: r.members, seq: r.seq })), [{ room: 'ops-room', members: 1, seq: ack['seq'] }]);
  const table = await status(['--admin', admin, '--token', TOKEN]);
  t.equal(table.code, STATUS_EXIT.ok);
  t.match(table.stdout, /ops-room\s+running\s+1\s/, 'the table names the room, running, with its member');
});
