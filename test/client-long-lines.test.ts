// Lines longer than one datagram: the library refuses them at once with the
// limit in characters, the interactive CLI splits them, `chat send` exits 1.
import t from 'tap';
import { ChatClient, ClientError, type MsgEvent } from '../client/chat-client.js';
import { maxCharsOf, sayOverheadBytes, splitText, textBytes } from '../client/say-size.js';
import { startChatd } from './helpers/chatd.js';
import { runCli } from './helpers/cli.js';

const EMOJI = '\u{1F600}';


t.test('splitText: code-point boundaries, at spaces, each part within the budget', async (t) => {
  t.same(splitText('hello', 100), ['hello'], 'a text that fits stays whole');
  t.same(splitText('aaaa bbbb cccc', 9), ['aaaa bbbb', 'cccc'], 'cut at the last space, which is dropped');
  t.same(splitText('abcdefghij', 4), ['abcd', 'efgh', 'ij'], 'no space: cut anywhere');
  const emoji = EMOJI.repeat(300);
  const parts = splitText(emoji, 1000);
  t.same(parts.join(''), emoji, 'nothing lost');
  t.ok(parts.every((p) => textBytes(p) <= 1000), 'every part within the budget');
  t.ok(parts.every((p) => !/^[\uDC00-\uDFFF]|[\uD800-\uDBFF]$/.test(p)), 'no surrogate pair is cut');
  const escaped = '"'.repeat(10);
  t.ok(splitText(escaped, 8).every((p) => textBytes(p) <= 8), 'JSON escapes are counted');
  t.equal(maxCharsOf(EMOJI.repeat(10), 12), 3, 'a 4-byte character counts 4 bytes');
  t.throws(() => splitText('x', 2), RangeError);
});

t.test('sayOverheadBytes: counts the echoed msg with the longest seq and ts', async (t) => {
  const f = { room: 'r'.repeat(64), nick: 'n', member: 'm'.repeat(10), token: 't'.repeat(24) };
  const o = sayOverheadBytes(f);
  const msg = JSON.stringify({ type: 'msg', room: f.room, seq: Number.MAX_SAFE_INTEGER, member: f.member, nick: f.nick, text: '', ts: Number.MAX_SAFE_INTEGER, id: 'x'.repeat(21) });
  t.ok(o >= Buffer.byteLength(msg), 'at least the msg a room can send');
});

t.test('a say too large for a datagram is refused at once with TOO_LARGE naming the limit; splitForSay fits', async (t) => {
  const d = await startChatd(t);
  const c = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => c.close({ leave: false }));
  await c.join('long', 'ann');
  const text = EMOJI.repeat(300);
  const started = Date.now();
  const err = await c.say('long', text).then(() => undefined, (e: unknown) => e);
  t.ok(err instanceof ClientError, 'refused');
  t.equal((err as ClientError).code, 'TOO_LARGE');
  t.match((err as ClientError).message, /at most \d+ characters \(it has 300\).*1200-byte/);
  t.ok(Date.now() - started < 200, 'at once, not after retries');
  const parts = c.splitForSay('long', text);
  t.ok(parts.length >= 2, `split into ${parts.length}`);
  const echoed: MsgEvent[] = [];
  for (const p of parts) echoed.push(await c.say('long', p));
  t.equal(echoed.map((m) => m.text).join(''), text, 'every part delivered, in order');
  const n = Number(/at most (\d+)/.exec((err as ClientError).message)![1]);
  await c.say('long', EMOJI.repeat(n));
  t.pass('a text of exactly the named limit is accepted');
});

t.test('the interactive CLI splits a long line; chat send refuses it with the limit and exits 1', async (t) => {
  const d = await startChatd(t);
  const server = `127.0.0.1:${d.port}`;
  const watcher = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => watcher.close({ leave: false }));
  await watcher.join('long', 'watcher');
  const got: string[] = [];
  watcher.on('message', (m) => got.push(m.text));
  const text = EMOJI.repeat(300);
  const r = await runCli(['--server', server, '--nick', 'ann', '--room', 'long'], `${text}\n`);
  t.equal(r.code, 0, r.stderr);
  t.notMatch(r.stdout, /error/);
  // The CLI exits on its own acks; the watcher's copies may trail them.
  for (let i = 0; i < 100 && got.join('') !== text; i++) await new Promise((res) => setTimeout(res, 20));
  t.equal(got.join(''), text, 'the line arrived as several messages, in order');
  t.ok(got.length >= 2);
  const s = await runCli(['send', '--server', server, '--nick', 'bot', '--room', 'long', text]);
  t.equal(s.code, 1, 'exit 1, not 3');
  t.match(s.stderr, /TOO_LARGE.*at most \d+ characters/);
  t.notMatch(s.stderr, /TIMEOUT/);
});
