// The pure parts of `npm run cluster`: its options (every refusal names
// what was wrong) and its merged log's lines (a chatd line keeps all its
// fields under the node label; NATS lines are condensed and, by default,
// only its warnings and errors shown).
import t from 'tap';
import { DEFAULT_NATS, DEFAULT_NODES, DEFAULT_PORT, parseLauncherArgs } from '../bench/local-cluster-args.js';
import { condenseNatsLine, labelChatdLine } from '../bench/merged-log.js';

t.test('options', async (t) => {
  t.same(
    parseLauncherArgs([]),
    { kind: 'run', args: { nodes: DEFAULT_NODES, nats: DEFAULT_NATS, port: DEFAULT_PORT, replicas: 3, configFile: undefined, keep: false, natsLogs: false } },
    'defaults: 3 nodes, 3 NATS servers, port 7447, 3 copies',
  );
  t.match(parseLauncherArgs(['--nodes', '2', '--nats', '1', '--port', '9000', '--keep', '--nats-logs', '--config', 'c.json']), {
    kind: 'run',
    args: { nodes: 2, nats: 1, port: 9000, replicas: 1, configFile: 'c.json', keep: true, natsLogs: true },
  }, 'every option, and one copy with one NATS server');
  t.match(parseLauncherArgs(['--nats', '5']), { args: { replicas: 3 } }, 'at most 3 copies by default');
  t.match(parseLauncherArgs(['--nats', '5', '--replicas', '5']), { args: { replicas: 5 } }, '--replicas up to the NATS servers');
  t.same(parseLauncherArgs(['--help', '--bogus']), { kind: 'help' }, '--help wins');
  const refusals: Array<[string[], RegExp]> = [
    [['--bogus'], /'--bogus'/],
    [['--nodes', '0'], /--nodes "0".*1 to 16/],
    [['--nodes', '2.5'], /--nodes "2\.5"/],
    [['--nats', '6'], /--nats "6".*1 to 5/],
    [['--port', '65536'], /--port "65536"/],
    [['--nats', '1', '--replicas', '2'], /--replicas "2".*1 to 1.*--nats 1/],
    [['--config', ''], /--config must name a file/],
    [['lobby'], /unexpected argument "lobby"/],
    [['--nodes'], /--nodes/],
  ];
  for (const [argv, error] of refusals) t.match(parseLauncherArgs(argv), { kind: 'usage', error }, `${argv.join(' ')}: refused`);
});

t.test('merged log lines', async (t) => {
  t.same(
    labelChatdLine('node-2', '{"level":"info","event":"listening","port":7447}'),
    { node: 'node-2', level: 'info', event: 'listening', port: 7447 },
    'a chatd line keeps its fields, labelled',
  );
  t.same(Object.keys(labelChatdLine('node-1', '{"a":1,"node":"other"}')), ['node', 'a'], 'the label comes first...');
  t.equal(labelChatdLine('node-1', '{"a":1,"node":"other"}')['node'], 'node-1', '...and wins over a field of that name');
  t.same(labelChatdLine('node-1', 'Error: boom'), { node: 'node-1', msg: 'Error: boom' }, 'a line that is no JSON is wrapped');
  t.same(labelChatdLine('node-1', '[1,2]'), { node: 'node-1', msg: '[1,2]' }, 'so is JSON that is no object');

  const now = new Date('2030-01-02T03:04:05.000Z');
  const inf = '[123] 2030/01/02 03:04:05.000000 [INF] Server is ready';
  const wrn = '[123] 2030/01/02 03:04:05.000000 [WRN] Waiting for routing to be established...';
  t.equal(condenseNatsLine('nats-0', inf, false, now), undefined, 'info is not shown by default');
  t.same(condenseNatsLine('nats-0', inf, true, now), { node: 'nats-0', level: 'info', time: now.toISOString(), msg: 'Server is ready' }, 'but with --nats-logs');
  t.same(
    condenseNatsLine('nats-1', wrn, false, now),
    { node: 'nats-1', level: 'warn', time: now.toISOString(), msg: 'Waiting for routing to be established...' },
    'a warning is, in chatd level names',
  );
  t.match(condenseNatsLine('nats-0', 'panic: runtime error', false, now), { level: 'error', msg: 'panic: runtime error' }, 'an untagged line counts as an error');
});
