import t from 'tap';
import { ManualClock, systemClock } from '../lib/clock.js';

t.test('a manual clock starts where told and moves only on advance', async (t) => {
  const c = new ManualClock(1000);
  t.equal(c.now(), 1000);
  t.equal(c.now(), 1000);
  c.advance(250);
  t.equal(c.now(), 1250);
  t.equal(new ManualClock().now(), 1_700_000_000_000, 'a realistic epoch default');
});

t.test('timers fire in time order, not in scheduling order', async (t) => {
  const c = new ManualClock(0);
  const fired: string[] = [];
  c.setTimeout(() => fired.push('c@30'), 30);
  c.setTimeout(() => fired.push('a@10'), 10);
  c.setTimeout(() => fired.push('b@20'), 20);
  c.advance(100);
  t.strictSame(fired, ['a@10', 'b@20', 'c@30']);
});

t.test('timers due at the same time fire in scheduling order', async (t) => {
  const c = new ManualClock(0);
  const fired: number[] = [];
  for (let i = 0; i < 5; i++) c.setTimeout(() => fired.push(i), 10);
  c.advance(10);
  t.strictSame(fired, [0, 1, 2, 3, 4]);
});

t.test('a timer sees now() equal to its due time', async (t) => {
  const c = new ManualClock(0);
  const seen: number[] = [];
  c.setTimeout(() => seen.push(c.now()), 10);
  c.setTimeout(() => seen.push(c.now()), 35);
  c.advance(100);
  t.strictSame(seen, [10, 35]);
  t.equal(c.now(), 100, 'after advance, now is the end of the window');
});

t.test('a timer fires only once its time is reached', async (t) => {
  const c = new ManualClock(0);
  let fired = 0;
  c.setTimeout(() => fired++, 10);
  c.advance(9);
  t.equal(fired, 0, 'not before');
  c.advance(1);
  t.equal(fired, 1, 'exactly at its time');
  c.advance(100);
  t.equal(fired, 1, 'and never again');
});

t.test('clearTimeout cancels a pending timer', async (t) => {
  const c = new ManualClock(0);
  const fired: string[] = [];
  const a = c.setTimeout(() => fired.push('a'), 10);
  c.setTimeout(() => fired.push('b'), 10);
  c.clearTimeout(a);
  c.advance(20);
  t.strictSame(fired, ['b']);
});

t.test('a timer can cancel a later one from inside the same advance', async (t) => {
  const c = new ManualClock(0);
  const fired: string[] = [];
  const later = c.setTimeout(() => fired.push('later'), 20);
  c.setTimeout(() => {
    fired.push('first');
    c.clearTimeout(later);
  }, 10);
  c.advance(30);
  t.strictSame(fired, ['first']);
});

t.test('advance fires timers scheduled by timers when they fall within the window', async (t) => {
  const c = new ManualClock(0);
  const fired: Array<[string, number]> = [];
  c.setTimeout(() => {
    fired.push(['outer', c.now()]);
    c.setTimeout(() => fired.push(['inner', c.now()]), 15);
    c.setTimeout(() => fired.push(['beyond', c.now()]), 100);
    c.setTimeout(() => fired.push(['immediate', c.now()]), 0);
  }, 10);
  c.setTimeout(() => fired.push(['other', c.now()]), 20);
  c.advance(50);
  t.strictSame(fired, [
    ['outer', 10],
    ['immediate', 10],
    ['other', 20],
    ['inner', 25],
  ]);
  t.equal(c.timerCount, 1, 'the timer beyond the window is still pending');
  c.advance(60);
  t.strictSame(fired.at(-1), ['beyond', 110]);
});

t.test('a repeating timer fires once per period', async (t) => {
  const c = new ManualClock(0);
  const ticks: number[] = [];
  const tick = () => {
    ticks.push(c.now());
    c.setTimeout(tick, 100);
  };
  c.setTimeout(tick, 100);
  c.advance(450);
  t.strictSame(ticks, [100, 200, 300, 400]);
  t.equal(c.timerCount, 1);
});

t.test('a negative delay is treated as zero', async (t) => {
  const c = new ManualClock(0);
  let at = -1;
  c.setTimeout(() => (at = c.now()), -50);
  c.advance(0);
  t.equal(at, 0);
});

t.test('timerCount counts pending timers only', async (t) => {
  const c = new ManualClock(0);
  t.equal(c.timerCount, 0);
  const a = c.setTimeout(() => {}, 10);
  c.setTimeout(() => {}, 20);
  c.setTimeout(() => {}, 30);
  t.equal(c.timerCount, 3);
  c.clearTimeout(a);
  t.equal(c.timerCount, 2, 'a cancelled timer is not counted');
  c.advance(20);
  t.equal(c.timerCount, 1, 'a fired timer is not counted');
  c.advance(10);
  t.equal(c.timerCount, 0);
});

t.test('the system clock reads CLOCK_MONOTONIC for now(), Date.now for wall(), and runs real timers', async (t) => {
  const before = Date.now();
  const wall = systemClock.wall();
  t.ok(wall >= before && wall <= Date.now());
  const hr = Number(process.hrtime.bigint() / 1_000_000n);
  const now = systemClock.now();
  t.ok(now >= hr - 1 && now <= hr + 1_000, 'the monotonic reading, in ms (shared by every process of the machine)');
  t.ok(systemClock.now() >= now, 'never goes back');
  const fired: string[] = [];
  const cleared = systemClock.setTimeout(() => fired.push('cleared'), 0);
  systemClock.clearTimeout(cleared);
  // A timer set after the cleared one, with the same delay, fires after it would have.
  await new Promise<void>((resolve) => systemClock.setTimeout(() => resolve(), 0));
  t.strictSame(fired, [], 'a cleared real timer does not fire');
});

t.test('a wall-clock step moves wall() only: timers and now() stay where they were', async (t) => {
  const c = new ManualClock(1_000);
  const fired: number[] = [];
  c.setTimeout(() => fired.push(c.now()), 500);
  c.stepWall(3_600_000);
  t.equal(c.now(), 1_000);
  t.equal(c.wall(), 3_601_000);
  c.advance(499);
  t.same(fired, [], 'an hour forward fires nothing early');
  c.stepWall(-7_200_000);
  t.equal(c.wall(), 1_499 - 3_600_000);
  c.advance(1);
  t.same(fired, [1_500], 'an hour back delays nothing');
});
