// The interactive `chat` in a real terminal (tmux): incoming lines appear
// exactly once above the line being typed, whatever its length and the
// terminal's width, and the typed line stays intact and can still be edited
// and sent. The other side of the chat is the client library.
import t, { type Test } from 'tap';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { CLI } from './helpers/cli.js';
import { countRows, Pane, tmuxMissing } from './helpers/tmux.js';

const missing = tmuxMissing();
if (missing) t.plan(0, missing);

// Each test has a room of its own: a pane killed at teardown leaves its member behind until evicted.
let rooms = 0;
let room = 'first';
let PROMPT = '[first]> ';
function newRoom(): void {
  room = `r${++rooms}`;
  PROMPT = `[${room}]> `;
}

function cli(t: Test, d: Chatd, nick: string, extra: string[] = [], width = 80): Pane {
  return Pane.start(t, [process.execPath, CLI, '--server', `127.0.0.1:${d.port}`, '--nick', nick, '--room', room, ...extra], { width });
}

async function peer(t: Test, d: Chatd, nick: string): Promise<{ c: ChatClient; got: MsgEvent[] }> {
  const c = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => c.close({ leave: false }));
  const got: MsgEvent[] = [];
  c.on('message', (m) => got.push(m));
  await c.join(room, nick);
  return { c, got };
}

async function until(ok: () => boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ok()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** A typed line of n characters that no incoming line contains. */
function typedLine(n: number): string {
  return 'abcdefghij'.repeat(Math.ceil(n / 10)).slice(0, n);
}

/** Sends texts from the peer, each awaited (in order) or all at once (a burst, many events per tick). */
async function sendAll(c: ChatClient, texts: string[], burst: boolean): Promise<void> {
  if (burst) await Promise.all(texts.map((x) => c.say(room, x)));
  else for (const x of texts) await c.say(room, x);
}

/** Every text shows exactly once as `bob: text`, and the input row is the prompt and `input`. */
async function expectAll(t: Test, pane: Pane, texts: string[], input: string): Promise<void> {
  // A burst is sequenced in any order: wait for every text, not for the last sent.
  const rows = await pane.waitFor(
    (r) => texts.every((x) => r.some((row) => row.endsWith(`bob: ${x}`))) && r[r.length - 1] === PROMPT + input,
    `${texts.length} lines from bob with the input below`,
  );
  for (const x of texts) t.equal(rows.filter((r) => r.endsWith(`bob: ${x}`)).length, 1, `"${x}" shown once`);
  t.equal(rows[rows.length - 1], PROMPT + input, 'the typed line is intact, at the bottom');
  t.equal(countRows(rows, input), 1, 'no stale copy of the typed line');
  t.equal(rows.filter((r) => r.startsWith(PROMPT.trimEnd())).length, 1, 'no stale part of the typed line either', { rows });
}

/** Edits the typed line (two characters off, two on) and sends it; the peer gets that text, the screen shows it once. */
async function editAndSend(t: Test, pane: Pane, got: MsgEvent[], input: string): Promise<void> {
  pane.press('BSpace', 'BSpace');
  pane.type('YZ');
  const sent = input.slice(0, -2) + 'YZ';
  await pane.waitFor((r) => r[r.length - 1] === PROMPT + sent, 'the edited line');
  pane.press('Enter');
  await until(() => got.some((m) => m.nick === 'alice' && m.text === sent), 'the edited line at the peer');
  const rows = await pane.waitFor((r) => r.some((x) => x.endsWith(`alice: ${sent}`)) && r[r.length - 1] === PROMPT.trimEnd(), 'the own line from the room');
  t.equal(got.filter((m) => m.nick === 'alice').length, 1, 'sent once');
  t.equal(countRows(rows, sent), 1, 'the own line shows once: the room\'s copy replaced the typed one');
}

t.test('terminal tests', { skip: missing }, async (t) => {
  const d = await startChatd(t);

  for (const n of [71, 78, 200]) {
    t.test(`a ${n}-character unsent line: 3 incoming lines, then a burst of 20, each shown once above it`, async (t) => {
      newRoom();
      const bob = await peer(t, d, 'bob');
      const pane = cli(t, d, 'alice');
      await pane.waitForText('* members: alice, bob');
      const input = typedLine(n);
      pane.type(input);
      await pane.waitFor((r) => r[r.length - 1] === PROMPT + input, 'the typed line');
      const three = ['one!', 'two!', 'three!'];
      await sendAll(bob.c, three, false);
      await expectAll(t, pane, three, input);
      const burst = Array.from({ length: 20 }, (_, i) => `burst ${String(i).padStart(2, '0')}!`);
      await sendAll(bob.c, burst, true);
      await expectAll(t, pane, [...three, ...burst], input);
      await editAndSend(t, pane, bob.got, input);
      await bob.c.leave(room);
    });
  }

  t.test('after a resize to a narrower terminal, incoming lines still appear once above the typed line', async (t) => {
    newRoom();
    const bob = await peer(t, d, 'bob');
    const pane = cli(t, d, 'alice');
    await pane.waitForText('* members: alice, bob');
    const input = typedLine(200);
    pane.type(input);
    await pane.waitFor((r) => r[r.length - 1] === PROMPT + input, 'the typed line');
    await sendAll(bob.c, ['before!'], false);
    await expectAll(t, pane, ['before!'], input);
    pane.resize(60);
    const after = ['after 1!', 'after 2!', 'after 3!', ...Array.from({ length: 20 }, (_, i) => `late ${String(i).padStart(2, '0')}!`)];
    await sendAll(bob.c, after.slice(0, 3), false);
    await sendAll(bob.c, after.slice(3), true);
    await expectAll(t, pane, ['before!', ...after], input);
    await editAndSend(t, pane, bob.got, input);
    await bob.c.leave(room);
  });
});
