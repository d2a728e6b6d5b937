// The `chat` command: argument parsing as a table, and the built CLI run as a
// child process for --help, --version and usage errors (no server needed).
import t from 'tap';
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EXIT, parseCli, parseServer } from '../client/cli-args.js';
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
    args: { mode: 'send', host: '127.0.0.1', port: 7447, nick: 'n', room: 'r', key: undefined, json: false, text: 'hello world' },
  });
  t.match(parseCli(['tail', '-s', 'chat.example:9000', '-r', 'r', '-n', 'n', '--json', '-k', 'k']), {
    kind: 'run',
    args: { mode: 'tail', host: 'chat.example', port: 9000, json: true, key: 'k' },
  });
  t.match(parseCli(['--nick', 'n']), { kind: 'run', args: { mode: 'interactive', room: undefined } });
  t.match(parseCli(['--room', 'r']), { kind: 'usage', error: /--nick is required/ });
  t.match(parseCli(['tail', '--nick', 'n']), { kind: 'usage', error: /--room is required/ });
  t.match(parseCli(['send', '--room', 'r', '--nick', 'n']), { kind: 'usage', error: /nothing to send/ });
  t.match(parseCli(['--nick', 'n', '--json']), { kind: 'usage', error: /--json/ });
  t.match(parseCli(['--nick', 'n', 'stray']), { kind: 'usage', error: /stray/ });
  t.same(parseCli(['tail', '--bogus', '-h']), { kind: 'help', mode: 'tail' });
  t.same(parseCli(['-V']), { kind: 'version' });
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
