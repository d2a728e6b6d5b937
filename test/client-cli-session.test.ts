// The interactive `chat` in a real terminal (tmux), as a person uses it:
// what it says when the server stops answering and comes back (a line typed
// meanwhile is delivered once), /me, /nick, /help, /who, the member list on
// join, timestamps, the up arrow, and Ctrl-D. The other side is the client library.
import t, { type Test } from 'tap';
import { ChatClient, type MsgEvent, type PresenceEvent } from '../client/chat-client.js';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { CLI } from './helpers/cli.js';
import { countRows, Pane, tmuxMissing } from './helpers/tmux.js';

const missing = tmuxMissing();

let rooms = 0;

interface Peer {
  c: ChatClient;
  got: MsgEvent[];
  presence: PresenceEvent[];
}

async function peer(t: Test, d: Chatd, room: string, nick: string): Promise<Peer> {
  const c = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => c.close({ leave: false }));
  const got: MsgEvent[] = [];
  const presence: PresenceEvent[] = [];
  c.on('message', (m) => got.push(m));
  c.on('presence', (p) => presence.push(p));
  await c.join(room, nick);
  return { c, got, presence };
}

function cli(t: Test, d: Chatd, room: string, nick: string, extra: string[] = []): Pane {
  return Pane.start(t, [process.execPath, CLI, '--server', `127.0.0.1:${d.port}`, '--nick', nick, '--room', room, ...extra]);
}

async function until(ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

t.test('terminal sessions', { skip: missing }, async (t) => {
  t.test('server stopped: "connection lost", a line typed meanwhile waits, "connection back", delivered once', async (t) => {
    // Short heartbeats so silence is noticed in about a second; many misses so nobody is evicted while stopped.
    const d = await startChatd(t, { heartbeatMs: 300, heartbeatMisses: 30 });
    const room = `s${++rooms}`;
    const bob = await peer(t, d, room, 'bob');
    const pane = cli(t, d, room, 'alice');
    await pane.waitForText('* members: alice, bob');
    const server = `127.0.0.1:${d.port}`;
    const stopped = [d.pid, ...d.roomPids()];
    let resumed = false;
    const resume = () => {
      if (resumed) return;
      resumed = true;
      for (const pid of stopped) process.kill(pid, 'SIGCONT');
    };
    t.teardown(resume); // a failed test must not leave chatd stopped (its teardown kills it)
    for (const pid of stopped) process.kill(pid, 'SIGSTOP');
    await pane.waitForText(`connection lost to ${server}, retrying…`);
    pane.type('typed while stopped');
    pane.press('Enter');
    await pane.waitForText('waiting for the room to answer: typed while stopped');
    resume();
    const rows = await pane.waitFor((r) => r.some((x) => x.endsWith('alice: typed while stopped')), 'the line, delivered');
    t.equal(countRows(rows, 'connection back'), 1, 'connection back, once');
    t.ok(rows.findIndex((r) => r.includes('connection back')) < rows.findIndex((r) => r.endsWith('alice: typed while stopped')), 'sent after the room answered again');
    await until(() => bob.got.some((m) => m.text === 'typed while stopped'), 'the line at the peer');
    t.equal(bob.got.filter((m) => m.text === 'typed while stopped').length, 1, 'delivered once');
    t.notOk(rows.some((r) => /TIMEOUT|request/.test(r)), 'no request ids on the screen');
  });

  t.test('with a server that never answers: "joining" at once, then progress, then a failure naming the address', async (t) => {
    // A bound socket that never answers: the join has nobody to talk to.
    const { createSocket } = await import('node:dgram');
    const silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    t.teardown(() => silent.close());
    const port = silent.address().port;
    const pane = Pane.start(t, [process.execPath, CLI, '--server', `127.0.0.1:${port}`, '--nick', 'alice', '--room', 'nowhere']);
    const rows = await pane.waitForText(`[nowhere] * joining at 127.0.0.1:${port}…`, 3_000);
    t.ok(rows.length > 0, 'said at once');
    await pane.waitForText(`no answer from 127.0.0.1:${port} after`, 10_000);
    pane.press('C-d');
    t.equal(await pane.waitExit(), 0, 'Ctrl-D exits 0 even while joining');
  });

  t.test('/help, /me, /who, /nick, member list on join, timestamps, up arrow, Ctrl-D', async (t) => {
    const d = await startChatd(t);
    const room = `c${++rooms}`;
    const bob = await peer(t, d, room, 'bob');
    const pane = cli(t, d, room, 'alice');
    let rows = await pane.waitForText('* members: alice, bob');
    t.match(rows.find((r) => r.includes('* members: alice, bob')), new RegExp(`^\\d\\d:\\d\\d \\[${room}\\] \\* members: alice, bob$`), 'member list on join, timestamped');

    pane.type('/help');
    pane.press('Enter');
    rows = await pane.waitForText('/nick NEW');
    for (const cmd of ['/join ROOM', '/leave', '/who', '/me ACTION', '/quit']) t.equal(countRows(rows, cmd), 1, `/help lists ${cmd}`);
    t.notOk(rows.some((r) => r.includes('--server')), '/help is not the command-line usage');

    pane.type('/me waves');
    pane.press('Enter');
    await until(() => bob.got.some((m) => m.text === '/me waves'), '/me at the peer');
    rows = await pane.waitFor((r) => r.some((x) => x.endsWith(`[${room}] * alice waves`)), 'own action');
    t.equal(countRows(rows, 'waves'), 1, 'the action shows once, as * alice waves');
    await bob.c.say(room, '/me dances');
    rows = await pane.waitFor((r) => r.some((x) => x.endsWith(`[${room}] * bob dances`)), 'the peer\'s action');
    await bob.c.say(room, 'hi alice');
    rows = await pane.waitFor((r) => r.some((x) => x.endsWith(`[${room}] bob: hi alice`)), 'a message');
    const line = rows.find((r) => r.endsWith('bob: hi alice'))!;
    t.match(line, /^\d\d:\d\d \[/, 'a message carries HH:MM');

    pane.type('/who');
    pane.press('Enter');
    await pane.waitFor((r) => countRows(r, '* members: alice, bob') === 2, '/who');

    pane.type('/nick bob');
    pane.press('Enter');
    await pane.waitForText('the nick bob is taken here; you stay alice');
    pane.type('/nick alicia');
    pane.press('Enter');
    await pane.waitForText(`[${room}] * you are now alicia`);
    await until(() => bob.presence.some((p) => p.event === 'join' && p.nick === 'alicia'), 'alicia joins at the peer');
    t.ok(bob.presence.some((p) => p.event === 'leave' && p.nick === 'alice'), 'alice left first');
    pane.type('as alicia');
    pane.press('Enter');
    await until(() => bob.got.some((m) => m.text === 'as alicia' && m.nick === 'alicia'), 'a line under the new nick');

    // Up twice: the line before the last; sent again.
    pane.press('Up', 'Up');
    await pane.waitFor((r) => r[r.length - 1] === `[${room}]> /nick alicia`, 'the line two back');
    pane.press('Down');
    await pane.waitFor((r) => r[r.length - 1] === `[${room}]> as alicia`, 'the last line');
    pane.press('Enter');
    await until(() => bob.got.filter((m) => m.text === 'as alicia').length === 2, 'the recalled line at the peer');

    pane.press('C-d');
    t.equal(await pane.waitExit(), 0, 'Ctrl-D exits 0');
    await until(() => bob.presence.some((p) => p.event === 'leave' && p.nick === 'alicia'), 'the room was left');
  });

  t.test('--no-timestamps: lines start with the room', async (t) => {
    const d = await startChatd(t);
    const room = `n${++rooms}`;
    const bob = await peer(t, d, room, 'bob');
    const pane = cli(t, d, room, 'alice', ['--no-timestamps']);
    await pane.waitForText('* members: alice, bob');
    await bob.c.say(room, 'plain');
    const rows = await pane.waitFor((r) => r.some((x) => x.endsWith('bob: plain')), 'a message');
    t.equal(rows.find((r) => r.endsWith('bob: plain')), `[${room}] bob: plain`);
    t.notOk(rows.some((r) => /^\d\d:\d\d /.test(r)), 'no line has a time');
    pane.press('C-d');
    t.equal(await pane.waitExit(), 0);
  });
});
