import t from 'tap';
import { AMPLIFICATION_FACTOR, ReplyBudget } from '../lib/reply-budget.js';

t.test('an unproven endpoint may get 3x the request size in reply', async (t) => {
  t.equal(AMPLIFICATION_FACTOR, 3);
  const b = new ReplyBudget(100, false);
  t.equal(b.remaining, 300);
  t.equal(b.take(200), true);
  t.equal(b.remaining, 100);
  t.equal(b.take(100), true, 'the budget may be used to the last byte');
  t.equal(b.remaining, 0);
  t.equal(b.take(1), false, 'then nothing more');
});

t.test('the budget sums over every datagram of the reply', async (t) => {
  const b = new ReplyBudget(40, false);
  t.strictSame([50, 50, 20, 1].map((n) => b.take(n)), [true, true, true, false]);
  t.equal(b.remaining, 0);
});

t.test('take fails without consuming anything', async (t) => {
  const b = new ReplyBudget(10, false);
  t.equal(b.take(31), false, 'a datagram over budget is refused');
  t.equal(b.remaining, 30, 'the refused datagram cost nothing');
  t.equal(b.take(30), true, 'a smaller one still fits');
});

t.test('a proven endpoint has no limit', async (t) => {
  const b = new ReplyBudget(1, true);
  t.equal(b.remaining, Number.POSITIVE_INFINITY);
  t.equal(b.take(1_000_000), true);
  t.equal(b.take(Number.MAX_SAFE_INTEGER), true);
  t.equal(b.remaining, Number.POSITIVE_INFINITY);
});

t.test('an empty request buys no reply', async (t) => {
  const b = new ReplyBudget(0, false);
  t.equal(b.take(1), false);
  t.equal(b.take(0), true, 'sending nothing is always within budget');
});
