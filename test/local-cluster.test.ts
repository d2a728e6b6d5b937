// `npm run cluster` (bench/local-cluster.ts) as its user runs it: two chatd
// nodes and one NATS server come up, the merged stream labels each node's
// lines, each node answers on its own address and the shared port, and one
// SIGINT stops everything it started (nodes, rooms, pooled processes,
// nats-server) and removes its scratch folder, exiting 0.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { skipReason } from './helpers/nats.js';
import { readLines } from './helpers/netns.js';
import { isAlive, track } from './helpers/pids.js';
import { descendants, killTree } from './helpers/proc-tree.js';
import { RawClient } from './helpers/raw-client.js';
import { udpPing } from './helpers/udp-ping.js';

const LAUNCHER = fileURLToPath(new URL('../bench/local-cluster.js', import.meta.url));
/** Ports below Linux's ephemeral range (32768-60999), so no socket of another test takes one between our probe and the nodes' bind. */
const PORT_MIN = 20_000;
const PORT_SPAN = 12_000;
const PORT_ATTEMPTS = 50;

async function udpFree(host: string, port: number): Promise<boolean> {
  const s = createSocket('udp4');
  const ok = await new Promise<boolean>((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, host, () => resolve(true));
  });
  s.close();
  return ok;
}

/** A UDP port free on every one of hosts. */
async function sharedFreePort(hosts: string[]): Promise<number> {
  for (let i = 0; i < PORT_ATTEMPTS; i++) {
    const port = PORT_MIN + Math.floor(Math.random() * PORT_SPAN);
    if ((await Promise.all(hosts.map((h) => udpFree(h, port)))).every(Boolean)) return port;
  }
  throw new Error(`no port free on ${hosts.join(', ')} after ${PORT_ATTEMPTS} tries`);
}

function command(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

const reason = skipReason();
if (reason) {
  t.plan(0, `NATS tests skipped: ${reason}`);
} else {
  t.test('two nodes and one NATS: labelled logs, a pong from each address, and SIGINT leaves nothing behind', async (t) => {
    const tmp = mkdtempSync(join(tmpdir(), 'chatd-launcher-test-'));
    const port = await sharedFreePort(['127.0.0.1', '127.0.0.2']);
    // Its scratch folder goes under tmp, so that "removed" is checkable without knowing its name.
    const proc = spawn(process.execPath, [LAUNCHER, '--nodes', '2', '--nats', '1', '--port', String(port)], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, TMPDIR: tmp },
    });
    const pid = proc.pid!;
    track(pid, 'local-cluster');
    const out = readLines(proc);
    t.teardown(async () => {
      if (isAlive(pid)) await killTree(pid).catch(() => undefined);
      rmSync(tmp, { recursive: true, force: true });
    });

    const listening = await Promise.all(
      ['node-1', 'node-2'].map((node) => out.wait((l) => l.event === 'listening' && l['node'] === node, 20_000, `${node}'s listening line`)),
    );
    t.match(listening, [{ host: '127.0.0.1', port }, { host: '127.0.0.2', port }], `node-1 on 127.0.0.1:${port}, node-2 on 127.0.0.2:${port}`);
    for (const host of ['127.0.0.1', '127.0.0.2']) {
      t.match(await udpPing(host, port, 'p1'), { type: 'pong', id: 'p1' }, `a ping to ${host}:${port} gets its pong`);
    }

    // A room on node-1 (at 127.0.0.1, where the raw client sends), so that the stop has a room to end too.
    const client = await RawClient.open(t);
    await client.join(port, 'lobby', 'alice');
    const room = await out.wait((l) => l.event === 'room_started' && l['room'] === 'lobby', 10_000, 'the room_started line');
    t.equal(room['node'], 'node-1', "the room is labelled as node-1's");

    const started = descendants(pid);
    const nodePids = listening.map((l) => l['pid'] as number);
    t.ok(nodePids.every((p) => started.includes(p)), `both chatd supervisors (${nodePids.join(', ')}) run under the launcher`);
    t.ok(started.includes(room['roomPid'] as number), `so does the room (pid ${String(room['roomPid'])})`);
    t.equal(started.filter((p) => command(p) === 'nats-server').length, 1, 'and one nats-server');
    t.equal(readdirSync(tmp).length, 1, 'its scratch folder exists');

    proc.kill('SIGINT');
    let timer: NodeJS.Timeout | undefined;
    const exit = await Promise.race([out.exited, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), 15_000)))]);
    clearTimeout(timer);
    t.same(exit, { code: 0, signal: null }, 'SIGINT: it exits 0');
    t.same(started.filter(isAlive), [], `none of the ${started.length} processes it started is left`);
    t.same(readdirSync(tmp), [], 'its scratch folder is removed');
    t.match(out.stderr(), /npm run chat -- --server 127\.0\.0\.1:\d+,127\.0\.0\.2:\d+ --nick \S+ --room lobby/, 'stderr showed how to chat with both nodes');
    t.ok(
      out.lines.every((l) => typeof l['node'] === 'string' && l.event !== 'unparsed'),
      'every stdout line was a JSON object with a node label',
    );
  });
}
