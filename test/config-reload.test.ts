// What a reload (SIGHUP) does with each config key, and how the parts that
// were built from the config take the new values: the classification in
// lib/config.ts (RELOAD), the plan of a reload, token buckets retuned in use,
// and a room given a new config with members in it.
import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import { DEFAULTS, liveConfig, makeConfig, planReload, RELOAD, SECRET_KEYS, type ReloadClass } from '../lib/config.js';
import { KeyedBuckets } from '../lib/keyed-buckets.js';
import { TokenBucket } from '../lib/token-bucket.js';
import { makeRoom } from './helpers/room-fixture.js';

const keysOf = (cls: ReloadClass) =>
  Object.entries(RELOAD)
    .filter(([, c]) => c === cls)
    .map(([k]) => k)
    .sort();

t.test('every config key is placed, once: live, new rooms only, or restart', async (t) => {
  t.same(Object.keys(RELOAD).sort(), Object.keys(DEFAULTS).sort(), 'the same keys as the defaults');
  t.ok(Object.isFrozen(RELOAD));
});

t.test('the keys bound at start need a restart', async (t) => {
  const restart = keysOf('restart');
  for (const k of [
    'host',
    'port',
    'dataDir',
    'roomPortMin',
    'roomPortMax',
    'fanoutSendmmsg',
    'socketBufferBytes',
    'natsServers',
    'nodeName',
    'clusterName',
    'advertiseHost',
    'journalReplicas',
    'nodeLeaseMs',
    'adminHost',
    'adminPort',
    'logDestination',
    'maxDatagramBytes',
    'idempotenceWindowMs',
  ]) {
    t.ok(restart.includes(k), `${k}: restart`);
  }
  t.same(keysOf('new-rooms'), ['historySize', 'journalFsync', 'journalFsyncIntervalMs'], 'what a room sizes or opens when it starts: new rooms only');
  for (const k of SECRET_KEYS) t.ok(k in RELOAD, `secret ${k} is a config key`);
});

t.test('limits, timeouts, policies and the log level are live', async (t) => {
  const live = keysOf('live');
  for (const k of [
    'sayRatePerSec',
    'sayBurst',
    'requestRatePerSec',
    'requestBurst',
    'controlRatePerSec',
    'controlBurst',
    'joinRatePerSec',
    'joinBurst',
    'roomCreateRatePerSec',
    'roomCreateBurst',
    'badKeyRatePerSec',
    'badKeyBurst',
    'errorReplyRatePerSec',
    'errorReplyBurst',
    'limitExemptCidrs',
    'maxRooms',
    'maxMembersPerRoom',
    'maxRoomsPerEndpoint',
    'maxUnprovenPerAddress',
    'maxPendingPerEndpoint',
    'heartbeatMs',
    'heartbeatMisses',
    'unprovenTimeoutMs',
    'restartType',
    'restartMaxRestarts',
    'restartPeriodMs',
    'roomPolicies',
    'shutdownTimeoutMs',
    'ipcTimeoutMs',
    'probeIntervalMs',
    'probeTimeoutMs',
    'roomPoolSize',
    'logLevel',
  ]) {
    t.ok(live.includes(k), `${k}: live`);
  }
});

t.test('planReload takes live and new-room keys, keeps restart keys and names them', async (t) => {
  const current = makeConfig({ port: 7000, sayRatePerSec: 20, historySize: 100, adminToken: 'a'.repeat(16) });
  const next = makeConfig({ port: 7001, sayRatePerSec: 2, historySize: 200, adminToken: 'b'.repeat(16), dataDir: 'elsewhere', adminPort: 9000 });
  const plan = planReload(current, next);
  t.same(plan.changed, ['historySize', 'sayRatePerSec', 'adminToken']);
  t.same(plan.newRoomsOnly, ['historySize']);
  t.same(plan.notApplied, ['port', 'dataDir', 'adminPort'], 'in the order of the table');
  t.equal(plan.config.sayRatePerSec, 2);
  t.equal(plan.config.historySize, 200);
  t.equal(plan.config.port, 7000, 'the port stays');
  t.equal(plan.config.dataDir, 'data', 'so does dataDir');
  t.equal(plan.config.adminPort, 7448, 'and the admin port');
  t.equal(plan.config.adminToken, 'b'.repeat(16), 'a new admin token applies at once');
  t.ok(Object.isFrozen(plan.config));
});

t.test('planReload: values equal in content are no change, whatever their order or freezing', async (t) => {
  const current = makeConfig({ roomPolicies: { lobby: { restartType: 'permanent', restartMaxRestarts: 3 } }, limitExemptCidrs: ['10.0.0.0/8'] });
  const next = makeConfig({ roomPolicies: { lobby: { restartMaxRestarts: 3, restartType: 'permanent' } }, limitExemptCidrs: ['10.0.0.0/8'] });
  const plan = planReload(current, next);
  t.same(plan.changed, []);
  t.same(plan.notApplied, []);
  t.same(planReload(current, makeConfig({ roomPolicies: { lobby: { restartType: 'temporary' } } })).changed, ['limitExemptCidrs', 'roomPolicies']);
});

t.test('liveConfig: a running room takes the live keys only', async (t) => {
  const room = makeConfig({ sayBurst: 40, historySize: 100, journalFsync: 'always' });
  const next = makeConfig({ sayBurst: 4, historySize: 9, journalFsync: 'never' });
  const c = liveConfig(room, next);
  t.equal(c.sayBurst, 4);
  t.equal(c.historySize, 100, 'its history ring keeps its size');
  t.equal(c.journalFsync, 'always', 'its journal keeps its fsync mode');
  t.ok(Object.isFrozen(c));
});

t.test('TokenBucket.retune: a lower burst bites at once, a higher one is earned at the new rate', async (t) => {
  const b = new TokenBucket(100, 100, 0);
  for (let i = 0; i < 10; i++) b.take(0);
  b.retune(1, 3, 0);
  t.ok(b.take(0) && b.take(0) && b.take(0), 'three of the 90 left: capped at the new burst');
  t.notOk(b.take(0), 'the fourth is refused');
  t.notOk(b.take(500), 'half a second at 1/s is not a token');
  t.ok(b.take(1_000), 'a second is');
  b.retune(10, 50, 1_000);
  t.notOk(b.take(1_000), 'a higher burst is not a gift');
  t.ok(b.take(1_100), 'it refills at the new rate: 10/s');
});

t.test('TokenBucket.retune counts the time before it at the old rate', async (t) => {
  const b = new TokenBucket(10, 10, 0);
  for (let i = 0; i < 10; i++) b.take(0);
  b.retune(1, 10, 500); // 5 tokens earned at 10/s before the change
  let n = 0;
  while (b.take(500)) n++;
  t.equal(n, 5);
});

t.test('KeyedBuckets.retune: buckets held and buckets made later', async (t) => {
  const clock = new ManualClock();
  const k = new KeyedBuckets(clock, 100, 100);
  t.ok(k.take('a'));
  k.retune(1, 2);
  t.ok(k.take('a'));
  t.ok(k.take('a'));
  t.notOk(k.take('a'), 'a held bucket is capped at the new burst');
  t.ok(k.take('b') && k.take('b'));
  t.notOk(k.take('b'), 'a new bucket has the new burst');
});

t.test('a room given a lower say rate limits a member that was already in it', async (t) => {
  const f = makeRoom({ sayRatePerSec: 1000, sayBurst: 1000 });
  f.join(1);
  f.join(2);
  f.settle();
  const say = (id: string) => f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id, text: id }), f.from(1));
  say('before');
  t.match(f.take(40001), [{ type: 'msg', id: 'before' }], 'the member has a say bucket now');
  const changed = f.room.reconfigure(makeConfig({ heartbeatMs: 1000, heartbeatMisses: 3, historySize: 99, sayRatePerSec: 1, sayBurst: 2 }));
  t.same(changed, ['sayRatePerSec', 'sayBurst'], 'historySize is not live: not changed');
  t.equal(f.room.config.historySize, 8);
  for (const id of ['a', 'b', 'c', 'd']) say(id);
  const out = f.take(40001);
  t.same(out.filter((o) => o['type'] === 'msg').map((o) => o['id']), ['a', 'b'], 'two, the new burst');
  t.match(out.filter((o) => o['type'] === 'error'), [{ code: 'RATE_LIMITED', id: 'c' }, { code: 'RATE_LIMITED', id: 'd' }]);
  t.same(f.room.reconfigure(f.room.config), [], 'the same config again changes nothing');
});

t.test('a lower heartbeatMs: members keep the deadline they were told when they joined; new ones get the new one', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 3 });
  f.join(1);
  f.room.reconfigure(makeConfig({ heartbeatMs: 200, heartbeatMisses: 3, historySize: 8 }));
  f.join(2);
  f.settle();
  f.clock.advance(1_000);
  t.ok(f.room.roster.get('m1'), 'the earlier member is not held to 3 x 200 ms');
  t.notOk(f.room.roster.get('m2'), 'the later one is: silent for 1 s, evicted');
  f.clock.advance(3_000);
  t.notOk(f.room.roster.get('m1'), 'the earlier one is evicted by its own deadline (3 x 1000 ms, plus a sweep)');
});

t.test('a higher heartbeatMs applies to every member at once', async (t) => {
  const f = makeRoom({ heartbeatMs: 1000, heartbeatMisses: 3 });
  f.join(1);
  f.room.reconfigure(makeConfig({ heartbeatMs: 5000, heartbeatMisses: 3, historySize: 8 }));
  f.settle();
  f.clock.advance(10_000);
  t.ok(f.room.roster.get('m1'), 'not evicted after 10 s of silence');
  f.clock.advance(8_000);
  t.notOk(f.room.roster.get('m1'), 'evicted after 15 s and a sweep');
});
