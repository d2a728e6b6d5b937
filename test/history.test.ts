import t from 'tap';
import { History } from '../rooms/history.js';

const buf = (s: string) => Buffer.from(s);

t.test('history keeps the newest capacity events in seq order', async (t) => {
  const h = new History(3);
  t.equal(h.size, 0);
  t.equal(h.oldest, 1);
  t.equal(h.latest, 0);
  for (let s = 1; s <= 5; s++) h.push(s, buf(`e${s}`));
  t.equal(h.oldest, 3);
  t.equal(h.latest, 5);
  t.equal(h.size, 3);
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
