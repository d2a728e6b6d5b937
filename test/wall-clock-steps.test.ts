// Wall-clock steps (NTP, an operator, a resumed VM) move nothing but `ts`:
// every interval, deadline and rate in the supervisor, the rooms and the
// client library reads the monotonic clock. Each part is driven through the
// injected clock with the wall clock stepped an hour either way.
import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import { KeyedBuckets } from '../lib/keyed-buckets.js';
import { ReplayCache } from '../lib/replay-cache.js';
import { decideRestart } from '../supervisor/restart-policy.js';
import { endpoint } from '../client/endpoint.js';
import { RoomSession } from '../client/room-session.js';
import { RttEstimator } from '../client/rtt.js';

const HOUR = 3_600_000;

t.test('the idempotence window neither expires nor lingers on a step', async (t) => {
  const clock = new ManualClock();
  const cache = new ReplayCache<string>(clock, 60_000, 100);
  cache.set('join', 'joined');
  clock.stepWall(HOUR);
  t.equal(cache.get('join'), 'joined', 'an hour forward: the retry still gets its reply');
  clock.stepWall(-2 * HOUR);
  clock.advance(60_000);
  t.equal(cache.get('join'), undefined, 'an hour back: it still expires after the window');
});

t.test('rate limits neither refill nor freeze on a step', async (t) => {
  const clock = new ManualClock();
  const joins = new KeyedBuckets(clock, 1, 2);
  t.ok(joins.take('10.0.0.1') && joins.take('10.0.0.1'));
  clock.stepWall(HOUR);
  t.notOk(joins.take('10.0.0.1'), 'an hour forward refills nothing');
  clock.stepWall(-2 * HOUR);
  clock.advance(1_000);
  t.ok(joins.take('10.0.0.1'), 'an hour back freezes nothing: a second later there is a token');
});

t.test('the restart window counts real time, not wall time', async (t) => {
  const clock = new ManualClock();
  const policy = {
    restartType: 'transient' as const,
    restartMaxRestarts: 2,
    restartPeriodMs: 10_000,
    restartBackoffInitialMs: 0,
    restartBackoffFactor: 1,
    restartBackoffMaxMs: 0,
    restartBackoffJitter: 0,
  };
  const crash = { code: 1, signal: null };
  let history: number[] = [];
  for (let i = 0; i < 2; i++) {
    const d = decideRestart(crash, history, clock.now(), policy);
    t.equal(d.action, 'restart');
    history = d.history;
    clock.stepWall(-HOUR);
  }
  clock.advance(1_000);
  t.equal(decideRestart(crash, history, clock.now(), policy).action, 'give-up', 'steps back do not keep an old crash loop out of the window');
  history = [];
  const first = decideRestart(crash, history, clock.now(), policy);
  clock.stepWall(HOUR);
  const second = decideRestart(crash, first.history, clock.now(), policy);
  t.equal(second.action, 'restart', 'a step forward does not empty the window early either');
  t.equal(decideRestart(crash, second.history, clock.now(), policy).action, 'give-up');
});

t.test('a client session keeps its heartbeat schedule across steps', async (t) => {
  const clock = new ManualClock();
  const sent: Array<Record<string, unknown>> = [];
  const s = new RoomSession(
    { type: 'joined', id: 'j', room: 'r', port: 1, member: 'm', token: 't'.repeat(24), nick: 'n', members: 1, seq: 1, heartbeatMs: 1_000 },
    endpoint('127.0.0.1', 1),
    { clock, send: (o) => sent.push(o), deliver: () => {}, gap: () => {}, reorderWaitMs: 50, rtt: new RttEstimator(250), maxAttempts: 8 },
  );
  s.start();
  const hbs = () => sent.filter((o) => o['type'] === 'hb').length;
  s.onHb({ type: 'hb', room: 'r', seq: 1 });
  clock.stepWall(HOUR);
  clock.advance(999);
  t.equal(hbs(), 1, 'no early heartbeat after a step forward');
  clock.advance(1);
  t.equal(hbs(), 2, 'one period after the last');
  s.onHb({ type: 'hb', room: 'r', seq: 1 });
  clock.stepWall(-2 * HOUR);
  clock.advance(1_000);
  t.equal(hbs(), 3, 'no stall after a step back');
  t.notOk(s.unresponsive, 'and no false alarm');
  s.dispose();
});
