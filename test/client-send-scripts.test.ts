// `chat send` in scripts: lines from standard input, --timeout, exit codes.
import { spawn } from 'node:child_process';
import { createSocket } from 'node:dgram';
import t from 'tap';
import { ChatClient } from '../client/chat-client.js';
import { EXIT } from '../client/cli-args.js';
import { startChatd } from './helpers/chatd.js';
import { CLI, runCli } from './helpers/cli.js';



t.test('chat send without TEXT sends each line of standard input, in order; exit 0', async (t) => {
  const d = await startChatd(t);
  const watcher = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => watcher.close({ leave: false }));
  await watcher.join('ci', 'watcher');
  const got: string[] = [];
  watcher.on('message', (m) => got.push(m.text));
  const lines = Array.from({ length: 12 }, (_, i) => `line ${i}`);
  const r = await runCli(['send', '--server', `127.0.0.1:${d.port}`, '--room', 'ci', '--nick', 'bot'], `${lines[0]}\r\n\n${lines.slice(1).join('\n')}\n`);
  t.equal(r.code, EXIT.OK, r.stderr);
  for (let i = 0; i < 100 && got.length < lines.length; i++) await new Promise((res) => setTimeout(res, 20));
  t.same(got, lines, 'one message a line, in order, empty lines skipped, CRLF taken as a line end');
});

t.test('chat send from standard input stops at the first refused line and exits 1', async (t) => {
  const d = await startChatd(t);
  const long = '\u{1F600}'.repeat(300);
  const r = await runCli(['send', '--server', `127.0.0.1:${d.port}`, '--room', 'ci', '--nick', 'bot'], `ok\n${long}\nnever\n`);
  t.equal(r.code, EXIT.FAILED);
  t.match(r.stderr, /TOO_LARGE.*at most \d+ characters/);
});

t.test('chat send --timeout: a service that never answers gives exit 3 by the deadline', async (t) => {
  const silent = createSocket('udp4');
  await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
  t.teardown(() => silent.close());
  const port = silent.address().port;
  const r = await runCli(['send', '--server', `127.0.0.1:${port}`, '--room', 'ci', '--nick', 'bot', '--timeout', '400', 'hello'], null);
  t.equal(r.code, EXIT.TIMEOUT, r.stderr);
  t.match(r.stderr, /no answer within --timeout 400 ms/);
  t.ok(r.ms < 4_000, `gave up by the deadline (${r.ms} ms, leave included)`);
  // Standard input that never ends does not hold the process past the deadline.
  const p = spawn(process.execPath, [CLI, 'send', '--server', `127.0.0.1:${port}`, '--room', 'ci', '--nick', 'bot', '--timeout', '300'], { stdio: ['pipe', 'ignore', 'ignore'] });
  t.teardown(() => p.kill('SIGKILL'));
  const code = await new Promise<number | null>((resolve) => p.once('exit', resolve));
  t.equal(code, EXIT.TIMEOUT, 'open stdin: exit 3 too');
});

t.test('chat send exit codes: 2 for usage', async (t) => {
  const r = await runCli(['send', '--room', 'ci', '--nick', 'bot', '--timeout', 'soon', 'x']);
  t.equal(r.code, EXIT.USAGE);
  t.match(r.stderr, /--timeout "soon"/);
});
