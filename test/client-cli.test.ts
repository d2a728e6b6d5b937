// The `chat` command: argument parsing as a table, and the built CLI run as a
// child process for --help, --version and usage errors (no server needed).
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EXIT, parseCli, parseServer } from '../client/cli-args.js';
import { formatEvent, formatJson, rejoinFailedEvent } from '../client/cli-format.js';
import { ClientError } from '../client/chat-client.js';
import { VERSION } from '../lib/version.js';

const CLI = fileURLToPath(new URL('../client/cli.js', import.meta.url));

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { timeout: 10_000 }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : null) : 0, stdout, stderr });
    });
  });
}

t.test('--help prints the usage of each form and exits 0', async (t) => {
  for (const form of [[], ['send'], ['tail']]) {
    const r = await run([...form, '--help']);
    t.equal(r.code, 0, `chat ${form.join(' ')} --help`);
    t.match(r.stdout, new RegExp(`^Usage: chat ${form[0] ?? ''}`));
    t.match(r.stdout, /--server HOST:PORT/);
    t.match(r.stdout, /Exit codes: 0 ok, 1 .*2 usage error, 3 timeout/s);
    if (form[0] === 'send') t.notMatch(r.stdout, /--no-rejoin/, 'send never rejoins');
    else t.match(r.stdout, /--no-rejoin +do not rejoin/, `chat ${form.join(' ')} documents --no-rejoin`);
  }
});

t.test('--version prints the version and exits 0', async (t) => {
  for (const form of [[], ['send'], ['tail']]) {
    const r = await run([...form, '--version']);
    t.equal(r.code, 0);
    t.equal(r.stdout, `chat ${VERSION}\n`);
  }
});

t.test('a usage error exits 2 and says what is wrong', async (t) => {
  const r = await run(['send', '--nick', 'ann', 'hello']);
  t.equal(r.code, EXIT.USAGE);
  t.match(r.stderr, /--room is required/);
  t.equal(r.stdout, '');
  const bad = await run(['--nick', 'ann', '--bogus']);
  t.equal(bad.code, EXIT.USAGE);
});

t.test('parseCli: forms, defaults and usage errors', async (t) => {
  t.same(parseCli(['send', '--room', 'r', '--nick', 'n', 'hello', 'world']), {
    kind: 'run',
    args: { mode: 'send', host: '127.0.0.1', port: 7447, nick: 'n', room: 'r', roomStripped: false, key: undefined, json: false, rejoin: false, text: 'hello world', timeoutMs: undefined, timestamps: false },
  });
  t.match(parseCli(['tail', '-s', 'chat.example:9000', '-r', 'r', '-n', 'n', '--json', '-k', 'k']), {
    kind: 'run',
    args: { mode: 'tail', host: 'chat.example', port: 9000, json: true, key: 'k' },
  });
  t.match(parseCli(['--nick', 'n']), { kind: 'run', args: { mode: 'interactive', room: undefined } });
  t.match(parseCli(['--room', 'r']), { kind: 'usage', error: /--nick is required/ });
  t.match(parseCli(['tail', '--nick', 'n']), { kind: 'usage', error: /--room is required/ });
  t.match(parseCli(['send', '--room', 'r', '--nick', 'n']), { kind: 'run', args: { text: '', timeoutMs: undefined } }, 'no TEXT: standard input');
  t.match(parseCli(['send', '-r', 'r', '-n', 'n', '--timeout', '1500', 'x']), { kind: 'run', args: { timeoutMs: 1500 } });
  t.match(parseCli(['send', '-r', 'r', '-n', 'n', '--timeout', '0', 'x']), { kind: 'usage', error: /--timeout "0"/ });
  t.match(parseCli(['send', '-r', 'r', '-n', 'n', '--timeout', '2s', 'x']), { kind: 'usage', error: /milliseconds/ });
  t.match(parseCli(['tail', '-r', 'r', '-n', 'n', '--timeout', '5']), { kind: 'usage', error: /only for `chat send`/ });
  t.match(parseCli(['--nick', 'n', '--json']), { kind: 'usage', error: /--json/ });
  t.match(parseCli(['--nick', 'n', 'stray']), { kind: 'usage', error: /stray/ });
  t.same(parseCli(['tail', '--bogus', '-h']), { kind: 'help', mode: 'tail' });
  t.same(parseCli(['-V']), { kind: 'version' });
});

t.test('parseCli: interactive and tail rejoin by default; --no-rejoin turns it off; send never rejoins', async (t) => {
  t.match(parseCli(['--nick', 'n']), { kind: 'run', args: { rejoin: true } });
  t.match(parseCli(['--nick', 'n', '--no-rejoin']), { kind: 'run', args: { rejoin: false } });
  t.match(parseCli(['tail', '-r', 'r', '-n', 'n']), { kind: 'run', args: { rejoin: true } });
  t.match(parseCli(['tail', '-r', 'r', '-n', 'n', '--json', '--no-rejoin']), { kind: 'run', args: { rejoin: false, json: true } });
  t.match(parseCli(['send', '-r', 'r', '-n', 'n', 'hi']), { kind: 'run', args: { rejoin: false } });
  t.match(parseCli(['send', '-r', 'r', '-n', 'n', '--no-rejoin', 'hi']), { kind: 'usage', error: /--no-rejoin/ });
});

t.test('rejoin events: one line each, or JSON objects typed rejoining/rejoined/rejoin-failed', async (t) => {
  t.equal(formatEvent({ type: 'rejoining', room: 'r', reason: 'evicted', attempt: 1, delayMs: 250 }), '[r] * connection lost (evicted); rejoining…');
  t.equal(formatEvent({ type: 'rejoining', room: 'r', reason: 'crashed', attempt: 1, delayMs: 250 }), '[r] * connection lost (crashed); rejoining…');
  t.equal(formatEvent({ type: 'rejoining', room: 'r', reason: 'evicted', attempt: 3, delayMs: 1_000 }), '[r] * rejoining (attempt 3)…');
  t.equal(formatEvent({ type: 'rejoined', room: 'r', seq: 9, previousSeq: 4 }), '[r] * rejoined');
  const failed = rejoinFailedEvent({ room: 'r', error: new ClientError('BAD_KEY', 'wrong room key\u001b[2J') });
  t.equal(formatEvent(failed), '[r] * could not rejoin: BAD_KEY wrong room key\uFFFD[2J', 'the server text is made safe');
  t.same(JSON.parse(formatJson(failed)), { type: 'rejoin-failed', room: 'r', code: 'BAD_KEY', message: 'wrong room key\u001b[2J' });
  t.same(JSON.parse(formatJson({ type: 'rejoined', room: 'r', seq: 9, previousSeq: 4 })), { type: 'rejoined', room: 'r', seq: 9, previousSeq: 4 });
  t.same(JSON.parse(formatJson({ type: 'rejoining', room: 'r', reason: 'evicted', attempt: 2, delayMs: 500 })), {
    type: 'rejoining',
    room: 'r',
    reason: 'evicted',
    attempt: 2,
    delayMs: 500,
  });
});

t.test('parseServer: HOST:PORT, [v6]:PORT, bare hosts and bad ports', async (t) => {
  t.same(parseServer('127.0.0.1:7000'), { host: '127.0.0.1', port: 7000 });
  t.same(parseServer('[::1]:7000'), { host: '::1', port: 7000 });
  t.same(parseServer('::1'), { host: '::1', port: 7447 });
  t.same(parseServer('localhost'), { host: 'localhost', port: 7447 });
  t.type(parseServer('host:0'), 'string');
  t.type(parseServer('host:x'), 'string');
  t.type(parseServer(':7447'), 'string');
});
