// The `chat` CLI with a server list and a room that moves to another node
// (protocol "Several nodes (cluster mode)"), against the fake service of
// test/helpers/fake-service.ts over real UDP: `chat send` with a list,
// `chat tail --json` carrying on across a move with a `moved` line, and the
// interactive screen's notice in a real terminal (tmux). Room endpoint A is
// on 127.0.0.1, B on 127.0.0.2 with the same port number.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import t, { type Test } from 'tap';
import { CLI, runCli } from './helpers/cli.js';
import { beforeUs, FakeEndpoint, FakeRoom, joined, msg, ROOM, WAIT_MS, type Obj } from './helpers/fake-service.js';
import { countRows, Pane, tmuxMissing } from './helpers/tmux.js';

interface Service {
  control: FakeEndpoint;
  /** A control endpoint that never answers, listed second: any one that answers will do. */
  deaf: FakeEndpoint;
  a: FakeRoom;
  b: FakeRoom;
  /** --server: the answering control endpoint, then the deaf one. */
  servers: string;
}

/** Joins go to A; `where` says B; control leaves are answered. */
async function service(t: Test): Promise<Service> {
  const control = await FakeEndpoint.open(t, '127.0.0.1');
  const deaf = await FakeEndpoint.open(t, '127.0.0.1');
  const a = new FakeRoom(await FakeEndpoint.open(t, '127.0.0.1'), beforeUs());
  const b = new FakeRoom(await FakeEndpoint.open(t, '127.0.0.2', a.ep.port), beforeUs());
  control.handler = (o, from) => {
    if (o['type'] === 'join') return control.send(from, joined(o['id'], a.ep, 3));
    if (o['type'] === 'where') return control.send(from, { type: 'here', id: o['id'], room: ROOM, host: b.ep.host, port: b.ep.port });
    if (o['type'] === 'leave') return control.send(from, { type: 'left', id: o['id'], room: ROOM });
  };
  return { control, deaf, a, b, servers: `127.0.0.1:${control.port},127.0.0.1:${deaf.port}` };
}

t.test('chat send with a server list: joins, sends, is acknowledged, leaves', async (t) => {
  const s = await service(t);
  const r = await runCli(['send', '--server', s.servers, '--room', ROOM, '--nick', 'me', 'hello from a list']);
  t.equal(r.code, 0, r.stderr);
  t.match(s.a.history.at(-1), { type: 'msg', seq: 4, text: 'hello from a list' });
  t.same(s.deaf.received, [], 'the first server answered: the second was never asked');
});

t.test('chat tail --json carries on across a move: a moved line, and every event once, in order', async (t) => {
  const s = await service(t);
  const tail = spawn(process.execPath, [CLI, 'tail', '--server', s.servers, '--room', ROOM, '--nick', 'me', '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => tail.kill('SIGKILL'));
  const exited = new Promise<number | null>((resolve) => tail.once('exit', (code) => resolve(code)));
  const lines: Obj[] = [];
  const waiters = new Set<() => void>();
  createInterface({ input: tail.stdout! }).on('line', (l) => {
    lines.push(JSON.parse(l) as Obj);
    for (const w of [...waiters]) w();
  });
  const line = (pred: (o: Obj) => boolean, what: string) =>
    new Promise<Obj>((resolve, reject) => {
      const check = () => {
        const hit = lines.find(pred);
        if (!hit) return;
        clearTimeout(timer);
        waiters.delete(check);
        resolve(hit);
      };
      const timer = setTimeout(() => {
        waiters.delete(check);
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(lines)}`));
      }, WAIT_MS);
      waiters.add(check);
      check();
    });
  await s.a.ep.next((o) => o['type'] === 'hb', 'the first hb at A');
  s.a.push(msg(4));
  await line((o) => o['seq'] === 4, 'msg 4');
  // A's node dies; the room goes on at B, where 5 is said before tail gets there.
  s.a.silent = true;
  s.b.history.push(msg(4), msg(5));
  const moved = await line((o) => o['type'] === 'moved', 'the moved line');
  t.same(moved, { type: 'moved', room: ROOM, host: '127.0.0.2', port: s.b.ep.port, from: { host: '127.0.0.1', port: s.a.ep.port } });
  await line((o) => o['seq'] === 5, 'msg 5, fetched at B');
  s.b.push(msg(6));
  await line((o) => o['seq'] === 6, 'msg 6, pushed by B');
  tail.kill('SIGTERM');
  t.equal(await exited, 0, 'tail exits 0 on SIGTERM');
  t.same(
    lines.map((o) => (o['type'] === 'msg' ? o['seq'] : o['type'])),
    [4, 'moved', 5, 6],
    'each event once, in order, the move among them',
  );
});

t.test('interactive: "room moved to", the line typed as it moved delivered once, no error', { skip: tmuxMissing() }, async (t) => {
  const s = await service(t);
  const pane = Pane.start(t, [process.execPath, CLI, '--server', s.servers, '--nick', 'me', '--room', ROOM]);
  await pane.waitForText('* members: me');
  s.a.silent = true;
  pane.type('typed as it moved');
  pane.press('Enter');
  const rows = await pane.waitFor((r) => r.some((x) => x.endsWith('me: typed as it moved')), 'the line, delivered');
  const notice = `[${ROOM}] * room moved to 127.0.0.2:${s.b.ep.port} (from 127.0.0.1:${s.a.ep.port})`;
  t.equal(countRows(rows, notice), 1, 'the move, said once');
  t.ok(rows.findIndex((r) => r.includes(notice)) < rows.findIndex((r) => r.endsWith('me: typed as it moved')), 'before the line it carried');
  t.equal(countRows(rows, 'me: typed as it moved'), 1, 'the line shows once');
  t.equal(s.b.history.filter((e) => e['text'] === 'typed as it moved').length, 1, 'sequenced once, at B');
  t.notOk(rows.some((r) => /error|not sent|TIMEOUT/.test(r)), 'a notice, not an error');
  pane.press('C-d');
  t.equal(await pane.waitExit(), 0, 'Ctrl-D exits 0');
});
