import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import { ReplayCache } from '../lib/replay-cache.js';

const WINDOW = 30_000;

t.test('a stored outcome is replayed within the window', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<string>(clock, WINDOW, 100);
  t.equal(c.get('a'), undefined, 'nothing before set');
  c.set('a', 'joined#1');
  t.equal(c.get('a'), 'joined#1');
  clock.advance(WINDOW - 1);
  t.equal(c.get('a'), 'joined#1', 'one millisecond before the window ends');
  t.equal(c.get('b'), undefined, 'another key is a miss');
});

t.test('a stored outcome is forgotten once the window has passed', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<string>(clock, WINDOW, 100);
  c.set('a', 'x');
  clock.advance(WINDOW);
  t.equal(c.get('a'), undefined, 'gone exactly at the end of the window');
  t.equal(c.size, 0, 'an expired entry found by get is deleted');
});

t.test('reading an entry does not extend its window', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<string>(clock, WINDOW, 100);
  c.set('a', 'x');
  clock.advance(WINDOW - 10);
  t.equal(c.get('a'), 'x');
  clock.advance(10);
  t.equal(c.get('a'), undefined);
});

t.test('set of an existing key replaces the value and restarts its window', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<string>(clock, WINDOW, 100);
  c.set('a', 'first');
  clock.advance(WINDOW - 1);
  c.set('a', 'second');
  t.equal(c.size, 1, 'still one entry');
  clock.advance(WINDOW - 1);
  t.equal(c.get('a'), 'second', 'alive a full window after the refresh');
  clock.advance(1);
  t.equal(c.get('a'), undefined);
});

t.test('maxEntries bounds the cache by evicting the oldest entries', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<number>(clock, WINDOW, 3);
  for (let i = 1; i <= 5; i++) {
    c.set(`k${i}`, i);
    clock.advance(1);
  }
  t.equal(c.size, 3);
  t.strictSame(['k1', 'k2', 'k3', 'k4', 'k5'].map((k) => c.get(k)), [undefined, undefined, 3, 4, 5]);
});

t.test('a refreshed key counts as the newest for eviction', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<string>(clock, WINDOW, 2);
  c.set('a', 'a1');
  c.set('b', 'b1');
  c.set('a', 'a2');
  c.set('c', 'c1');
  t.strictSame([c.get('a'), c.get('b'), c.get('c')], ['a2', undefined, 'c1'], 'b, now the oldest, was evicted');
});

t.test('set prunes expired entries so they cost no memory', async (t) => {
  const clock = new ManualClock();
  const c = new ReplayCache<string>(clock, WINDOW, 1_000);
  for (let i = 0; i < 50; i++) c.set(`old${i}`, 'x');
  t.equal(c.size, 50);
  clock.advance(WINDOW);
  c.set('new', 'y');
  t.equal(c.size, 1, 'only the new entry is left');
  t.equal(c.get('new'), 'y');
});

t.test('begin marks a request in flight; a second begin is refused until end', async (t) => {
  const c = new ReplayCache<string>(new ManualClock(), WINDOW, 100);
  t.equal(c.begin('a'), true, 'the first begin handles the request');
  t.equal(c.begin('a'), false, 'a retry while in flight is dropped');
  t.equal(c.begin('b'), true, 'other keys are independent');
  c.end('a');
  t.equal(c.begin('a'), true, 'after end the key can begin again');
  c.end('a');
  c.end('a');
  t.equal(c.begin('a'), true, 'a second end is harmless');
});

t.test('in-flight marks are separate from stored outcomes', async (t) => {
  const c = new ReplayCache<string>(new ManualClock(), WINDOW, 100);
  t.equal(c.begin('a'), true);
  t.equal(c.get('a'), undefined, 'in flight is not an outcome');
  t.equal(c.size, 0);
  c.set('a', 'done');
  c.end('a');
  t.equal(c.get('a'), 'done');
  t.equal(c.begin('a'), true, 'a stored outcome does not block begin (the caller checks get first)');
});
