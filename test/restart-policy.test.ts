import t from 'tap';
import { makeConfig, restartPolicyOf } from '../lib/config.js';
import { backoffMs, decideRestart, isAbnormal, type ExitInfo, type RestartDecision, type RestartPolicy } from '../supervisor/restart-policy.js';

const base: RestartPolicy = {
  restartType: 'transient',
  restartMaxRestarts: 3,
  restartPeriodMs: 10_000,
  restartBackoffInitialMs: 100,
  restartBackoffFactor: 2,
  restartBackoffMaxMs: 1_000,
  restartBackoffJitter: 0,
};
const NOW = 1_000_000;
const normal: ExitInfo = { code: 0, signal: null };
const crash: ExitInfo = { code: 1, signal: null };
const killed: ExitInfo = { code: null, signal: 'SIGKILL' };
const mid = () => 0.5; // jitter factor exactly 1

t.test('isAbnormal: only code 0 without a signal is a normal exit', async (t) => {
  const table: Array<[ExitInfo, boolean]> = [
    [normal, false],
    [crash, true],
    [{ code: 137, signal: null }, true],
    [killed, true],
    [{ code: null, signal: 'SIGTERM' }, true],
    [{ code: 0, signal: 'SIGTERM' }, true],
    [{ code: null, signal: null }, true],
  ];
  for (const [exit, abnormal] of table) t.equal(isAbnormal(exit), abnormal, JSON.stringify(exit));
});

t.test('decideRestart: exit reason x restart type x history', async (t) => {
  const table: Array<{ name: string; exit: ExitInfo; type?: RestartPolicy['restartType']; history: number[]; want: RestartDecision }> = [
    { name: 'transient: a normal exit is not restarted', exit: normal, history: [], want: { action: 'give-up', reason: 'normal-exit', history: [] } },
    { name: 'transient: a crash restarts after the initial delay', exit: crash, history: [], want: { action: 'restart', delayMs: 100, history: [NOW] } },
    { name: 'transient: SIGKILL is a crash', exit: killed, history: [], want: { action: 'restart', delayMs: 100, history: [NOW] } },
    { name: 'permanent: even a normal exit restarts', exit: normal, type: 'permanent', history: [], want: { action: 'restart', delayMs: 100, history: [NOW] } },
    { name: 'temporary: a crash is never restarted', exit: crash, type: 'temporary', history: [], want: { action: 'give-up', reason: 'temporary', history: [] } },
    {
      name: 'the delay doubles with each restart in the window',
      exit: crash,
      history: [NOW - 3_000, NOW - 1_000],
      want: { action: 'restart', delayMs: 400, history: [NOW - 3_000, NOW - 1_000, NOW] },
    },
    {
      name: 'maxRestarts inside the period gives up for intensity',
      exit: crash,
      history: [NOW - 9_000, NOW - 5_000, NOW - 1],
      want: { action: 'give-up', reason: 'intensity', history: [NOW - 9_000, NOW - 5_000, NOW - 1] },
    },
    {
      name: 'permanent also gives up for intensity',
      exit: normal,
      type: 'permanent',
      history: [NOW - 3, NOW - 2, NOW - 1],
      want: { action: 'give-up', reason: 'intensity', history: [NOW - 3, NOW - 2, NOW - 1] },
    },
    {
      name: 'restarts older than the period slide out of the window (and out of the backoff)',
      exit: crash,
      history: [NOW - 30_000, NOW - 20_000, NOW - 10_000, NOW - 2_000],
      want: { action: 'restart', delayMs: 200, history: [NOW - 2_000, NOW] },
    },
  ];
  for (const row of table) {
    const policy = { ...base, restartType: row.type ?? base.restartType };
    t.same(decideRestart(row.exit, row.history, NOW, policy, mid), row.want, row.name);
  }
});

t.test('a room that keeps crashing backs off, then is given up', async (t) => {
  let history: number[] = [];
  let now = NOW;
  const delays: number[] = [];
  for (let i = 0; i < 10; i++) {
    const d = decideRestart(crash, history, now, { ...base, restartMaxRestarts: 5, restartPeriodMs: 60_000 }, mid);
    history = d.history;
    if (d.action === 'give-up') {
      t.equal(d.reason, 'intensity');
      break;
    }
    delays.push(d.delayMs);
    now += d.delayMs + 50; // it crashes again 50 ms after each restart
  }
  t.same(delays, [100, 200, 400, 800, 1_000], 'growing delays, capped at the maximum, then given up');
});

t.test('jitter spreads the delay within +-jitter of the base', async (t) => {
  const p = { ...base, restartBackoffJitter: 0.2 };
  t.equal(backoffMs(0, p, () => 0), 80, 'lowest draw');
  t.equal(backoffMs(0, p, () => 0.5), 100, 'middle draw');
  t.equal(backoffMs(0, p, () => 0.999999), 120, 'highest draw');
  t.equal(backoffMs(10, p, () => 0.5), 1_000, 'capped before jitter');
});

t.test('per-room overrides replace only the keys they name', async (t) => {
  const c = makeConfig({ restartMaxRestarts: 7, roomPolicies: { lobby: { restartType: 'permanent', restartBackoffMaxMs: 50 } } });
  const lobby = restartPolicyOf(c, 'lobby');
  t.equal(lobby.restartType, 'permanent');
  t.equal(lobby.restartBackoffMaxMs, 50);
  t.equal(lobby.restartMaxRestarts, 7, 'the service value where the room says nothing');
  t.equal(restartPolicyOf(c, 'other').restartType, 'transient');
  t.throws(() => makeConfig({ roomPolicies: { lobby: { heartbeatMs: 5 } } }), /"lobby" has unknown key "heartbeatMs"/);
  t.throws(() => makeConfig({ roomPolicies: { 'bad name': {} } }), /not a valid room name/);
  t.throws(() => makeConfig({ roomPolicies: { lobby: { restartType: 'sometimes' } } }), /"lobby"\."restartType" must be one of/);
});
