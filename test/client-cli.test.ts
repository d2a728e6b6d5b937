// The `chat` command: argument parsing as a table, and the built CLI run as a
// child process for --help, --version and usage errors (no server needed).
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EXIT, parseCli, parseServer, parseServers } from '../client/cli-args.js';
import { formatEvent, formatJson, rejoinFailedEvent, serversName } from '../client/cli-format.js';
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
    args: { mode: 'send', servers: [{ host: '127.0.0.1', port: 7447 }], nick: 'n', room: 'r', roomStripped: false, key: undefined, json: false, rejoin: false, text: 'hello world', timeoutMs: undefined, timestamps: false },
  });
  t.match(parseCli(['tail', '-s', 'chat.example:9000', '-r', 'r', '-n', 'n', '--json', '-k', 'k']), {
    kind: 'run',
    args: { mode: 'tail', servers: [{ host: 'chat.example', port: 9000 }], json: true, key: 'k' },
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

t.test('parseServers and --server: one server, or a comma list of the nodes of one service', async (t) => {
  t.same(parseServers('127.0.0.1:7000'), [{ host: '127.0.0.1', port: 7000 }], 'the single form keeps working');
  t.same(parseServers('10.0.0.1:7447,10.0.0.2,chat.example:9'), [
    { host: '10.0.0.1', port: 7447 },
    { host: '10.0.0.2', port: 7447 },
    { host: 'chat.example', port: 9 },
  ]);
  t.same(parseServers('[::1]:7000, [::2]:7001'), [
    { host: '::1', port: 7000 },
    { host: '::2', port: 7001 },
  ], 'IPv6 in brackets, spaces after commas');
  t.match(parseServers('a:1,,b:2'), /empty entry/);
  t.match(parseServers('a:1,'), /empty entry/);
  t.match(parseServers('a:1,b:x'), /--server "b:x": the port must be 1-65535/, 'a bad entry is named');
  t.match(parseServers('10.0.0.1:7447,[::1]:7447'), /mixes IPv4 and IPv6/);
  t.match(parseCli(['send', '-s', 'a:7447,b:7447,c:7447', '-r', 'r', '-n', 'n', 'hi']), {
    kind: 'run',
    args: { servers: [{ host: 'a', port: 7447 }, { host: 'b', port: 7447 }, { host: 'c', port: 7447 }] },
  });
  t.match(parseCli(['--server', 'a:7447,', '--nick', 'n']), { kind: 'usage', error: /empty entry/ });
  t.equal(serversName([{ host: 'a', port: 1 }]), 'a:1');
  t.equal(serversName([{ host: 'a', port: 1 }, { host: '::1', port: 2 }]), 'a:1 or [::1]:2');
  t.equal(serversName([{ host: 'a', port: 1 }, { host: 'b', port: 2 }, { host: 'c', port: 3 }]), 'a:1, b:2 or c:3');
});

t.test('a move: one notice line, or a JSON object typed moved', async (t) => {
  const moved = { type: 'moved', room: 'lobby', host: '10.0.0.2', port: 40123, from: { host: '10.0.0.1', port: 40100 } } as const;
  t.equal(formatEvent(moved), '[lobby] * room moved to 10.0.0.2:40123 (from 10.0.0.1:40100)');
  t.equal(formatEvent({ ...moved, host: 'fd00::2' }), '[lobby] * room moved to [fd00::2]:40123 (from 10.0.0.1:40100)');
  t.same(JSON.parse(formatJson(moved)), moved);
});
