import t from 'tap';
import { History } from '../rooms/history.js';

const buf = (s: string) => Buffer.from(s);

t.test('history keeps the newest capacity events in seq order', async (t) => {
  const h = new History(3);
  t.equal(h.oldest, 1);
  t.equal(h.latest, 0);
  for (let s = 1; s <= 5; s++) h.push(s, buf(`e${s}`));
  t.equal(h.oldest, 3);
  t.equal(h.latest, 5);
  t.equal(h.get(2), undefined, 'evicted event is gone');
  t.same([3, 4, 5].map((s) => h.get(s)?.toString()), ['e3', 'e4', 'e5']);
  t.equal(h.get(6), undefined, 'future seq is not held');
});

t.test('history restored past a hole starts its window at the first pushed seq', async (t) => {
  const h = new History(4);
  h.push(10, buf('a'));
  h.push(11, buf('b'));
  t.equal(h.oldest, 10);
  t.equal(h.get(9), undefined);
  t.equal(h.get(11)?.toString(), 'b');
});

t.test('a hole inside the window is not held, and the events around it are', async (t) => {
  const h = new History(8);
  h.push(1, buf('a'));
  h.push(2, buf('b'));
  h.push(5, buf('e'));
  t.equal(h.oldest, 1);
  t.equal(h.latest, 5);
  t.same([1, 2, 3, 4, 5].map((s) => h.get(s)?.toString()), ['a', 'b', undefined, undefined, 'e']);
  t.same(h.held().map(String), ['a', 'b', 'e']);
});

t.test('a hole wider than the ring leaves nothing of a capacity ago', async (t) => {
  const h = new History(3);
  for (let s = 1; s <= 3; s++) h.push(s, buf(`e${s}`));
  h.push(5, buf('e5'));
  t.equal(h.oldest, 3, 'the window is the last 3 seqs');
  t.same([3, 4, 5].map((s) => h.get(s)?.toString()), ['e3', undefined, 'e5']);
  h.push(9, buf('e9'));
  t.same([7, 8, 9].map((s) => h.get(s)?.toString()), [undefined, undefined, 'e9'], 'old slots do not show through the hole');
});

t.test('skipTo marks seqs as seen without events; later pushes go above them', async (t) => {
  const h = new History(4);
  h.push(1, buf('a'));
  h.skipTo(6);
  t.equal(h.latest, 6);
  t.equal(h.get(1), undefined, 'seq 1 fell out of the 4-seq window');
  h.push(7, buf('g'));
  t.same([4, 5, 6, 7].map((s) => h.get(s)?.toString()), [undefined, undefined, undefined, 'g']);
  const empty = new History(4);
  empty.skipTo(100);
  t.equal(empty.latest, 100);
  t.equal(empty.oldest, 101, 'nothing held');
  empty.push(101, buf('x'));
  t.equal(empty.oldest, 101);
  t.throws(() => empty.push(50, buf('old')), /not above/, 'a seq is never pushed twice or backwards');
});
