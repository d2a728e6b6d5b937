import t from 'tap';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, DEFAULTS, loadConfigFile, makeConfig, restartPolicyOf, shortestRestartRunMs } from '../lib/config.js';
import { backoffMs, decideRestart } from '../supervisor/restart-policy.js';

/** The error makeConfig throws for these overrides (or a failed assertion). */
function errorFor(t: { fail(m: string): unknown }, overrides: Record<string, unknown>): ConfigError | undefined {
  try {
    makeConfig(overrides);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    t.fail(`threw something else: ${String(err)}`);
    return undefined;
  }
  t.fail(`accepted ${JSON.stringify(overrides)}`);
  return undefined;
}

t.test('the defaults are a valid config, returned frozen', async (t) => {
  const c = makeConfig({});
  t.strictSame({ ...c }, { ...DEFAULTS });
  t.equal(Object.isFrozen(c), true);
  t.throws(() => {
    (c as { port: number }).port = 1;
  }, TypeError, 'writing to it throws in strict mode');
  t.equal(c.port, 7447);
  t.not(c, DEFAULTS, 'a copy, not the defaults table itself');
});

t.test('the defaults follow the protocol', async (t) => {
  t.equal(DEFAULTS.maxDatagramBytes, 1200, 'protocol default size limit');
  t.equal(DEFAULTS.host, '0.0.0.0', 'protocol default host');
  t.ok(DEFAULTS.idempotenceWindowMs >= 30_000, 'idempotence window at least 30 s');
});

t.test(
  'the defaults table cannot be changed by a caller',
  async (t) => {
    t.equal(Object.isFrozen(DEFAULTS), true);
  },
);

t.test('each override is applied and the rest keep their defaults', async (t) => {
  const overrides: Record<string, unknown> = {
    host: '127.0.0.1',
    port: 0,
    roomPortMin: 40000,
    roomPortMax: 40100,
    heartbeatMs: 100,
    heartbeatMisses: 1,
    historySize: 1,
    maxDatagramBytes: 576,
    maxTextChars: 1,
    maxMembersPerRoom: 1,
    maxRooms: 1,
    maxRoomsPerEndpoint: 1,
    roomsPageSize: 1,
    whoPageSize: 1,
    idempotenceWindowMs: 30_000,
    idempotenceMaxEntries: 1_000,
    controlRatePerSec: 1.5,
    controlBurst: 3,
    joinRatePerSec: 0.25,
    joinBurst: 2,
    roomCreateRatePerSec: 0.5,
    roomCreateBurst: 2,
    badKeyRatePerSec: 0.01,
    badKeyBurst: 2,
    maxPendingPerEndpoint: 2,
    errorReplyRatePerSec: 3,
    errorReplyBurst: 4,
    sayRatePerSec: 0.5,
    sayBurst: 1,
    requestRatePerSec: 2.5,
    requestBurst: 1,
    sendQueueMaxBytes: 1_200,
    socketBufferBytes: 65_536,
    fanoutSendmmsg: false,
    roomPoolSize: 0,
    roomStartTimeoutMs: 100,
    ipcTimeoutMs: 100,
    shutdownTimeoutMs: 100,
    restartType: 'permanent',
    restartMaxRestarts: 0,
    restartPeriodMs: 1_000, // the default backoff's 5 restarts take 558 ms at least: a shorter window never gives up
    restartBackoffInitialMs: 0,
    restartBackoffFactor: 1.5,
    restartBackoffMaxMs: 0,
    restartBackoffJitter: 1,
    roomPolicies: { lobby: { restartType: 'temporary' } },
    maxUnprovenPerAddress: 1,
    unprovenTimeoutMs: 100,
    joinQueueTimeoutMs: 100,
    limitExemptCidrs: ['10.0.0.0/8', '2001:db8::/32', '192.0.2.7'],
    probeIntervalMs: 50,
    probeTimeoutMs: 50,
    journalFsync: 'always',
    journalFsyncIntervalMs: 10,
    keepJournals: true,
    dataDir: '/var/lib/chatd',
    logLevel: 'silent',
    logDestination: '/tmp/chatd.log',
    adminHost: '',
    adminPort: 0,
    adminToken: 's3cret-admin-token-0123',
    metricsRoomLabels: 5,
    statsIntervalMs: 250,
    natsServers: ['nats://127.0.0.1:4222', 'nats://10.0.0.2:4222'],
    nodeName: 'node-1',
    advertiseHost: '192.0.2.10',
    clusterName: 'chat_eu',
    journalReplicas: 3,
    nodeLeaseMs: 500,
  };
  t.strictSame(Object.keys(overrides).sort(), Object.keys(DEFAULTS).sort(), 'every key is exercised');
  for (const [k, v] of Object.entries(overrides)) {
    const c = makeConfig({ ...(k.startsWith('roomPort') ? { roomPortMin: 40000, roomPortMax: 40100 } : {}), [k]: v }) as Record<string, unknown>;
    t.same(c[k], v, `${k} is applied`);
    t.not(v, (DEFAULTS as Record<string, unknown>)[k], `${k} differs from its default, so the check means something`);
    for (const other of Object.keys(DEFAULTS)) {
      if (other === k || other.startsWith('roomPort')) continue;
      if (c[other] !== (DEFAULTS as Record<string, unknown>)[other]) t.fail(`${other} changed when only ${k} was given`);
    }
  }
  const all = makeConfig(overrides);
  t.strictSame({ ...all }, overrides, 'all at once');
});

t.test('the upper bounds of the ranges are accepted', async (t) => {
  const c = makeConfig({ port: 65535, heartbeatMisses: 100, maxDatagramBytes: 65_507, idempotenceWindowMs: 3_600_000, restartMaxRestarts: 1_000, restartPeriodMs: 86_400_000 });
  t.equal(c.port, 65535);
  t.equal(c.maxDatagramBytes, 65_507);
  t.equal(c.restartMaxRestarts, 1_000);
});

t.test('an unknown key is rejected with a message naming it', async (t) => {
  for (const key of ['prot', 'Port', 'maxDatagramSize', '__proto__', 'constructor', 'toString']) {
    const overrides = JSON.parse(`{${JSON.stringify(key)}: 1}`) as Record<string, unknown>;
    const err = errorFor(t, overrides);
    t.match(err?.message, `config: unknown key "${key}"`, key);
    t.match(err?.message, 'known keys: host, port,', 'the message lists the known keys');
  }
  t.equal(({} as Record<string, unknown>)['polluted'], undefined);
});

t.test('a wrong type or out-of-range value is rejected naming the key and what is expected', async (t) => {
  const cases: Array<[string, unknown, string]> = [
    ['port', '7447', '"port" must be an integer in 0..65535, got "7447"'],
    ['port', 65536, '"port" must be an integer in 0..65535, got 65536'],
    ['port', -1, '"port" must be an integer in 0..65535, got -1'],
    ['port', 1.5, '"port" must be an integer in 0..65535, got 1.5'],
    ['port', null, '"port" must be an integer in 0..65535, got null'],
    ['heartbeatMs', 99, '"heartbeatMs" must be an integer in 100..3600000, got 99'],
    ['heartbeatMisses', 0, '"heartbeatMisses" must be an integer in 1..100, got 0'],
    ['maxDatagramBytes', 575, '"maxDatagramBytes" must be an integer in 576..65507, got 575'],
    ['maxDatagramBytes', 65_508, '"maxDatagramBytes" must be an integer in 576..65507, got 65508'],
    ['idempotenceWindowMs', 29_999, '"idempotenceWindowMs" must be an integer in 30000..3600000, got 29999'],
    ['restartMaxRestarts', -1, '"restartMaxRestarts" must be an integer in 0..1000, got -1'],
    ['host', '', '"host" must be a non-empty string, got ""'],
    ['host', 127, '"host" must be a non-empty string, got 127'],
    ['dataDir', ['data'], '"dataDir" must be a non-empty string, got ["data"]'],
    ['logLevel', 'verbose', '"logLevel" must be one of fatal, error, warn, info, debug, trace, silent, got "verbose"'],
    ['logLevel', 'INFO', '"logLevel" must be one of fatal, error, warn, info, debug, trace, silent, got "INFO"'],
    ['limitExemptCidrs', '10.0.0.0/8', '"limitExemptCidrs" must be an array of CIDRs or IP addresses (e.g. ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]), got "10.0.0.0/8"'],
    ['limitExemptCidrs', ['10.0.0.0/33'], '"limitExemptCidrs" must be an array of CIDRs or IP addresses (e.g. ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]); "10.0.0.0/33" is not one, got ["10.0.0.0/33"]'],
    ['limitExemptCidrs', [8], '"limitExemptCidrs" must be an array of CIDRs or IP addresses (e.g. ["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]); 8 is not one, got [8]'],
    ['unprovenTimeoutMs', 99, '"unprovenTimeoutMs" must be an integer in 100..3600000, got 99'],
    ['maxUnprovenPerAddress', 0, '"maxUnprovenPerAddress" must be an integer in 1..1000000, got 0'],
  ];
  for (const [key, value, message] of cases) {
    t.equal(errorFor(t, { [key]: value })?.message, `config: ${message}`, `${key} = ${JSON.stringify(value)}`);
  }
});

t.test('a list value is kept as a frozen copy', async (t) => {
  const given = ['10.0.0.0/8'];
  const c = makeConfig({ limitExemptCidrs: given });
  given.push('0.0.0.0/0');
  t.same(c.limitExemptCidrs, ['10.0.0.0/8'], 'changing the caller\'s array changes nothing');
  t.equal(Object.isFrozen(c.limitExemptCidrs), true);
  t.equal(Object.isFrozen(DEFAULTS.limitExemptCidrs), true);
});

t.test('the source is named in the message', async (t) => {
  t.throws(() => makeConfig({ port: 'x' }, 'init'), { name: 'ConfigError', message: /^init: "port"/ });
});

t.test('roomPortMin and roomPortMax are both 0 or a range', async (t) => {
  const range = '"roomPortMin".."roomPortMax" must be a range (both 0 for ephemeral ports)';
  t.equal(makeConfig({ roomPortMin: 0, roomPortMax: 0 }).roomPortMin, 0, 'both 0: ephemeral ports');
  t.strictSame(
    [makeConfig({ roomPortMin: 40000, roomPortMax: 40000 })].map((c) => [c.roomPortMin, c.roomPortMax]),
    [[40000, 40000]],
    'a range of one port',
  );
  t.equal(errorFor(t, { roomPortMin: 40001, roomPortMax: 40000 })?.message, `config: ${range}`, 'min above max');
  t.equal(errorFor(t, { roomPortMin: 40000 })?.message, `config: ${range}`, 'only min set');
  t.equal(errorFor(t, { roomPortMax: 40000 })?.message, `config: ${range}`, 'only max set');
  t.equal(errorFor(t, { roomPortMin: 0, roomPortMax: 40000 })?.message, `config: ${range}`, 'min 0 with a max');
});

t.test('loadConfigFile reads a JSON object from a file', async (t) => {
  const dir = t.testdir({ 'chatd.json': JSON.stringify({ port: 9000, logLevel: 'warn' }) });
  const c = loadConfigFile(join(dir, 'chatd.json'));
  t.equal(c.port, 9000);
  t.equal(c.logLevel, 'warn');
  t.equal(c.heartbeatMs, DEFAULTS.heartbeatMs, 'keys not in the file keep their defaults');
  t.equal(Object.isFrozen(c), true);
});

t.test('loadConfigFile applies overrides on top of the file', async (t) => {
  const dir = t.testdir({ 'chatd.json': JSON.stringify({ port: 9000, logLevel: 'warn' }) });
  const c = loadConfigFile(join(dir, 'chatd.json'), { port: 9001 });
  t.equal(c.port, 9001);
  t.equal(c.logLevel, 'warn');
});

t.test('loadConfigFile names the file in a key error', async (t) => {
  const dir = t.testdir({ 'bad-key.json': '{"prot": 1}', 'bad-value.json': '{"port": "x"}' });
  const badKey = join(dir, 'bad-key.json');
  t.throws(() => loadConfigFile(badKey), { name: 'ConfigError', message: `${badKey}: unknown key "prot"` });
  const badValue = join(dir, 'bad-value.json');
  t.throws(() => loadConfigFile(badValue), { name: 'ConfigError', message: `${badValue}: "port" must be an integer in 0..65535, got "x"` });
});

t.test('loadConfigFile on a missing file is a ConfigError naming the path', async (t) => {
  const path = join(t.testdir({}), 'nope.json');
  t.throws(() => loadConfigFile(path), { name: 'ConfigError', message: `cannot read config file ${path}: ` });
  t.throws(() => loadConfigFile(path), { message: /ENOENT/ });
});

t.test('loadConfigFile on invalid JSON is a ConfigError naming the path', async (t) => {
  const dir = t.testdir({ 'broken.json': '{"port": 9000,', 'empty.json': '' });
  for (const name of ['broken.json', 'empty.json']) {
    const path = join(dir, name);
    t.throws(() => loadConfigFile(path), { name: 'ConfigError', message: `config file ${path} is not valid JSON: ` }, name);
  }
});

t.test('loadConfigFile on JSON that is not an object is a ConfigError', async (t) => {
  const dir = t.testdir({ 'array.json': '[{"port": 1}]', 'null.json': 'null', 'number.json': '7447', 'string.json': '"port"' });
  for (const name of ['array.json', 'null.json', 'number.json', 'string.json']) {
    const path = join(dir, name);
    t.throws(() => loadConfigFile(path), { name: 'ConfigError', message: `config file ${path} must hold a JSON object` }, name);
  }
});

t.test('loadConfigFile rejects a __proto__ key in the file rather than merging it', async (t) => {
  const dir = t.testdir({ 'proto.json': '{"__proto__": {"port": 1}, "logLevel": "warn"}' });
  t.throws(() => loadConfigFile(join(dir, 'proto.json')), { name: 'ConfigError', message: /unknown key "__proto__"/ });
  t.equal(({} as Record<string, unknown>)['port'], undefined, 'Object.prototype is untouched');
});

t.test('config/default.json in the repository loads and names only known keys', async (t) => {
  const candidates = [fileURLToPath(new URL('../../config/default.json', import.meta.url)), join(process.cwd(), 'config', 'default.json')];
  const path = candidates.find((p) => existsSync(p));
  if (!path) {
    t.fail(`config/default.json not found in ${candidates.join(' or ')}`);
    return;
  }
  const c = loadConfigFile(path);
  t.equal(c.maxDatagramBytes, 1200, 'the protocol default size limit');
  t.equal(c.host, '0.0.0.0');
  t.equal(typeof c.port, 'number');
  t.equal(Object.isFrozen(c), true);
});

t.test('a config file written by hand round-trips through loadConfigFile', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'all.json');
  writeFileSync(path, JSON.stringify(DEFAULTS, null, 2));
  t.strictSame({ ...loadConfigFile(path) }, { ...DEFAULTS });
});

/**
 * Crashes a room the moment each restart brings it back, with the smallest
 * backoff draws: the fastest a room can use up its restarts. Returns the
 * restarts made before it was given up, or Infinity if it never was.
 */
function restartsBeforeGivingUp(c: ReturnType<typeof makeConfig>, room = 'r'): number {
  const policy = restartPolicyOf(c, room);
  let history: number[] = [];
  let now = 0;
  for (let n = 0; n < 200; n++) {
    const d = decideRestart({ code: 1, signal: null }, history, now, policy, () => 0);
    if (d.action === 'give-up') return n;
    history = d.history;
    now += d.delayMs;
  }
  return Infinity;
}

t.test('shortestRestartRunMs is the sum of the smallest backoff delays before restarts 1..restartMaxRestarts', async (t) => {
  const policies = [
    restartPolicyOf(makeConfig({}), 'r'),
    restartPolicyOf(makeConfig({ restartBackoffFactor: 1.5, restartBackoffJitter: 0.37, restartPeriodMs: 100_000, restartMaxRestarts: 20 }), 'r'),
    restartPolicyOf(makeConfig({ restartBackoffInitialMs: 0, restartMaxRestarts: 1_000 }), 'r'),
  ];
  for (const p of policies) {
    let sum = 0;
    for (let k = 0; k < p.restartMaxRestarts; k++) sum += backoffMs(k, p, () => 0);
    t.equal(shortestRestartRunMs(p), sum, JSON.stringify(p));
  }
  t.equal(shortestRestartRunMs(restartPolicyOf(makeConfig({}), 'r')), 18 + 36 + 72 + 144 + 288, 'the defaults: 558 ms');
});

t.test('restart settings under which a room can never be given up are refused, naming the keys', async (t) => {
  const cases: Array<[string, Record<string, unknown>, string]> = [
    ['a large initial backoff', { restartBackoffInitialMs: 3_000 }, 'add up to at least 20700 ms, not less than "restartPeriodMs" 10000'],
    ['more restarts than the window can hold', { restartMaxRestarts: 10 }, 'add up to at least 13590 ms'],
    ['a window as long as the shortest run', { restartPeriodMs: 558 }, 'add up to at least 558 ms, not less than "restartPeriodMs" 558'],
    ['no jitter to shorten the delays', { restartBackoffInitialMs: 2_000, restartBackoffFactor: 1, restartBackoffJitter: 0 }, 'add up to at least 10000 ms'],
  ];
  for (const [name, overrides, detail] of cases) {
    const msg = errorFor(t, overrides)?.message ?? '';
    t.match(msg, /^config: restart settings can never give a room up/, name);
    t.match(msg, detail, name);
    for (const key of ['restartMaxRestarts', 'restartPeriodMs', 'restartBackoffInitialMs', 'restartBackoffFactor', 'restartBackoffMaxMs', 'restartBackoffJitter']) {
      t.match(msg, `"${key}"`, `${name}: names ${key}`);
    }
    t.equal(restartsBeforeGivingUp(makeConfig({ ...overrides, restartType: 'temporary' })), 0, `${name}: temporary is never restarted, so it is accepted`);
  }
});

t.test('the check is exact: a room is given up under the settings just inside it, never just outside', async (t) => {
  const inside = makeConfig({ restartPeriodMs: 559 });
  t.equal(restartsBeforeGivingUp(inside), 5, 'given up after restartMaxRestarts restarts');
  // What the refused settings would do: evaluated on a policy built past makeConfig.
  const outside = { ...restartPolicyOf(inside, 'r'), restartPeriodMs: 558 };
  let history: number[] = [];
  let now = 0;
  let gaveUp = false;
  for (let n = 0; n < 200 && !gaveUp; n++) {
    const d = decideRestart({ code: 1, signal: null }, history, now, outside, () => 0);
    gaveUp = d.action === 'give-up';
    if (d.action === 'restart') {
      history = d.history;
      now += d.delayMs;
    }
  }
  t.equal(gaveUp, false, 'one ms shorter and the room crash-loops for ever');
  t.equal(makeConfig({ restartBackoffInitialMs: 2_000, restartBackoffFactor: 1, restartBackoffJitter: 0.01 }).restartPeriodMs, 10_000, 'jitter can shorten the delays enough');
});

t.test('each roomPolicies entry is checked merged with the service-wide restart values', async (t) => {
  const own = errorFor(t, { roomPolicies: { lobby: { restartBackoffInitialMs: 3_000 } } })?.message ?? '';
  t.match(own, /^config: "roomPolicies"\."lobby" \(with the service-wide restart\* values\): restart settings can never give a room up/);
  t.match(own, '"restartBackoffInitialMs" 3000');
  // 9 restarts fit the default window (9090 ms); the room's shorter window does not hold them.
  t.equal(makeConfig({ restartMaxRestarts: 9 }).restartMaxRestarts, 9);
  const merged = errorFor(t, { restartMaxRestarts: 9, roomPolicies: { quick: { restartPeriodMs: 9_000 } } })?.message ?? '';
  t.match(merged, '"roomPolicies"."quick"');
  t.match(merged, '"restartMaxRestarts" 9', 'the service-wide value the room did not override');
  t.match(merged, 'add up to at least 9090 ms, not less than "restartPeriodMs" 9000');
  const temporaryRoom = makeConfig({ roomPolicies: { lobby: { restartType: 'temporary', restartBackoffInitialMs: 600_000, restartBackoffMaxMs: 600_000 } } });
  t.equal(restartsBeforeGivingUp(temporaryRoom, 'lobby'), 0, 'a temporary room is never restarted: its backoff does not matter');
  const permanentRoom = errorFor(t, {
    restartType: 'temporary',
    restartBackoffInitialMs: 600_000,
    restartBackoffMaxMs: 600_000,
    roomPolicies: { lobby: { restartType: 'permanent' } },
  })?.message;
  t.match(permanentRoom, '"roomPolicies"."lobby"', 'a restarted room under a temporary service is still checked');
  t.equal(restartsBeforeGivingUp(makeConfig({ restartMaxRestarts: 9, roomPolicies: { quick: { restartPeriodMs: 9_091 } } }), 'quick'), 9);
});
