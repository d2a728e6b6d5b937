import t from 'tap';
import { decideRestart, isAbnormal, type ExitInfo, type RestartDecision } from '../supervisor/restart-policy.js';

const policy = { maxRestarts: 3, periodMs: 10_000 };
const NOW = 1_000_000;
const normal: ExitInfo = { code: 0, signal: null };
const crash: ExitInfo = { code: 1, signal: null };
const killed: ExitInfo = { code: null, signal: 'SIGKILL' };
const segv: ExitInfo = { code: null, signal: 'SIGSEGV' };

t.test('isAbnormal: only code 0 without a signal is a normal exit', async (t) => {
  const table: Array<[ExitInfo, boolean]> = [
    [normal, false],
    [crash, true],
    [{ code: 137, signal: null }, true],
    [{ code: -1, signal: null }, true],
    [killed, true],
    [{ code: null, signal: 'SIGTERM' }, true],
    [{ code: 0, signal: 'SIGTERM' }, true],
    [{ code: null, signal: null }, true],
  ];
  for (const [exit, abnormal] of table) t.equal(isAbnormal(exit), abnormal, JSON.stringify(exit));
});

t.test('decideRestart follows the table', async (t) => {
  const table: Array<{ name: string; exit: ExitInfo; history: number[]; now?: number; want: RestartDecision }> = [
    {
      name: 'a normal exit gives up with reason normal-exit',
      exit: normal,
      history: [],
      want: { action: 'give-up', reason: 'normal-exit', history: [] },
    },
    {
      name: 'a normal exit after crashes gives up and keeps the recent history',
      exit: normal,
      history: [NOW - 20_000, NOW - 5_000],
      want: { action: 'give-up', reason: 'normal-exit', history: [NOW - 5_000] },
    },
    {
      name: 'a crash with no history restarts at once and records now',
      exit: crash,
      history: [],
      want: { action: 'restart', delayMs: 0, history: [NOW] },
    },
    {
      name: 'a crash with fewer than maxRestarts in the period restarts',
      exit: crash,
      history: [NOW - 3_000, NOW - 1_000],
      want: { action: 'restart', delayMs: 0, history: [NOW - 3_000, NOW - 1_000, NOW] },
    },
    {
      name: 'a crash with maxRestarts inside the period gives up for intensity',
      exit: crash,
      history: [NOW - 9_000, NOW - 5_000, NOW - 1],
      want: { action: 'give-up', reason: 'intensity', history: [NOW - 9_000, NOW - 5_000, NOW - 1] },
    },
    {
      name: 'restarts older than the period slide out of the window',
      exit: crash,
      history: [NOW - 30_000, NOW - 20_000, NOW - 10_001, NOW - 2_000],
      want: { action: 'restart', delayMs: 0, history: [NOW - 2_000, NOW] },
    },
    {
      name: 'a restart exactly periodMs ago is outside the window',
      exit: crash,
      history: [NOW - 10_000, NOW - 5_000, NOW - 1_000],
      want: { action: 'restart', delayMs: 0, history: [NOW - 5_000, NOW - 1_000, NOW] },
    },
    {
      name: 'a restart one millisecond inside the period still counts',
      exit: crash,
      history: [NOW - 9_999, NOW - 5_000, NOW - 1_000],
      want: { action: 'give-up', reason: 'intensity', history: [NOW - 9_999, NOW - 5_000, NOW - 1_000] },
    },
    {
      name: 'the same history decided later lets the room restart again',
      exit: crash,
      history: [NOW - 9_000, NOW - 5_000, NOW - 1],
      now: NOW + 1_001,
      want: { action: 'restart', delayMs: 0, history: [NOW - 5_000, NOW - 1, NOW + 1_001] },
    },
    {
      name: 'a SIGKILL exit counts as a crash',
      exit: killed,
      history: [],
      want: { action: 'restart', delayMs: 0, history: [NOW] },
    },
    {
      name: 'a SIGSEGV exit counts toward intensity',
      exit: segv,
      history: [NOW - 3, NOW - 2, NOW - 1],
      want: { action: 'give-up', reason: 'intensity', history: [NOW - 3, NOW - 2, NOW - 1] },
    },
    {
      name: 'exit code 0 with a signal is a crash',
      exit: { code: 0, signal: 'SIGTERM' },
      history: [],
      want: { action: 'restart', delayMs: 0, history: [NOW] },
    },
  ];
  for (const row of table) {
    t.strictSame(decideRestart(row.exit, row.history, row.now ?? NOW, policy), row.want, row.name);
  }
});

t.test('maxRestarts crashes in a row are restarted and the next one gives up', async (t) => {
  let history: number[] = [];
  const actions: string[] = [];
  for (let i = 0; i < 5; i++) {
    const d = decideRestart(crash, history, NOW + i * 100, policy);
    actions.push(d.action === 'restart' ? 'restart' : `give-up:${d.reason}`);
    history = d.history;
  }
  t.strictSame(actions, ['restart', 'restart', 'restart', 'give-up:intensity', 'give-up:intensity']);
});

t.test('maxRestarts 0 gives up on the first crash', async (t) => {
  t.strictSame(decideRestart(crash, [], NOW, { maxRestarts: 0, periodMs: 1_000 }), { action: 'give-up', reason: 'intensity', history: [] });
});

t.test('decideRestart does not modify the history it is given', async (t) => {
  const history = Object.freeze([NOW - 20_000, NOW - 1_000]) as readonly number[];
  const d = decideRestart(crash, history, NOW, policy);
  t.strictSame(history, [NOW - 20_000, NOW - 1_000]);
  t.not(d.history, history);
});
