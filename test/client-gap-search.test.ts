// GapSearch on its own: where a room's held history begins, in a few probes.
// A room is modelled by the lowest seq it holds (a suffix), or by islands.
import t from 'tap';
import { GapSearch, MAX_FETCH, type Window } from '../client/gap-search.js';
import { mulberry32 } from './helpers/mutate.js';

/** Runs a search against a room holding exactly the seqs `held` accepts; returns it and the windows probed. */
function run(start: number, top: number, held: (s: number) => boolean): { search: GapSearch; probes: Window[] } {
  const search = new GapSearch(start, top);
  const probes: Window[] = [];
  for (let i = 0; i < 1_000; i++) {
    const w = search.next();
    if (!w) break;
    probes.push(w);
    let first: number | undefined;
    for (let s = w.from; s <= w.to && first === undefined; s++) if (held(s)) first = s;
    search.answered(w, first);
  }
  return { search, probes };
}

t.test('a suffix anywhere in the range: found to within one window, never passed, in logarithmic probes', async (t) => {
  const rnd = mulberry32(7);
  let worst = 0;
  for (let i = 0; i < 500; i++) {
    const start = 1 + Math.floor(rnd() * 1_000);
    const top = start + Math.floor(rnd() * 2_000_000);
    const oldest = start + Math.floor(rnd() * (top - start + 300)); // sometimes above top: nothing held
    const { search, probes } = run(start, top, (s) => s >= oldest);
    const bound = 2 * Math.ceil(Math.log2(Math.max(2, (top - start + 1) / MAX_FETCH))) + 2;
    worst = Math.max(worst, probes.length - bound);
    if (search.lo > oldest || search.hi - search.lo > MAX_FETCH || (oldest <= top && search.hi < oldest)) {
      t.fail(`start ${start} top ${top} oldest ${oldest}: lo ${search.lo} hi ${search.hi}`);
      return;
    }
    if (probes.some((w) => w.from < start || w.to > top || w.to - w.from + 1 > MAX_FETCH)) {
      t.fail(`start ${start} top ${top}: a probe outside the range or above ${MAX_FETCH}`);
      return;
    }
  }
  t.ok(worst <= 0, 'probes stay within 2 log2(windows) + 2');
});

t.test('a million seqs with nothing held: a dozen probes, all of it taken as lost', async (t) => {
  const { search, probes } = run(262, 995_904, () => false);
  t.equal(search.lo, 995_905);
  t.ok(probes.length <= 13, `${probes.length} probes`);
  t.same(probes.at(-1), { from: 995_649, to: 995_904 }, 'the last probe is the window ending at the top');
});

t.test('held events just above the start (an old history below a restarted room\'s new sequence) are found', async (t) => {
  const { search } = run(262, 995_904, (s) => s >= 977 && s <= 2_000);
  t.ok(search.lo <= 977 && search.hi >= 977 - MAX_FETCH, `bracket ${search.lo}..${search.hi}`);
});

t.test('a range shorter than two windows needs no probe', async (t) => {
  const { search, probes } = run(100, 355, () => false);
  t.equal(probes.length, 0);
  t.equal(search.lo, 100, 'nothing is taken as lost: the scan walks it');
});
