// ChatClient catching up with a room far ahead of it: the room holds only a
// suffix of its history (maybe with holes), so most of the range comes back
// as `gap`. The client must find what is still held in a few fetches, report
// each lost run once, and deliver every held event once, in order. The test
// plays a room model over the in-memory network; time is a ManualClock.
import t from 'tap';
import { ROOM_PORT, joinedClient, msg, type Harness, type Obj } from './helpers/client-net.js';
import { mulberry32 } from './helpers/mutate.js';

/** The room as a fetch sees it: its latest seq and which seqs it still holds. */
interface RoomModel {
  latest: number;
  held(seq: number): boolean;
}

/** A room holding its last `size` seqs (and every later one), minus the lost runs given. */
function suffixRoom(latest: number, size: number, lost: Array<[number, number]> = []): RoomModel {
  const oldest = latest - size + 1;
  const room: RoomModel = {
    latest,
    held: (s) => s >= oldest && s <= room.latest && !lost.some(([a, b]) => s >= a && s <= b),
  };
  return room;
}

/** The room's answer to a fetch (protocol "Details: Fetch"), lost runs interleaved with the held events. */
function answer(room: RoomModel, from: number, to: number): Obj[] {
  if (from > room.latest) return [{ type: 'fetched', room: 'lobby', from, to: from - 1 }];
  const end = Math.min(to, room.latest, from + 255);
  const out: Obj[] = [];
  let run: number | undefined;
  for (let s = from; s <= end; s++) {
    if (!room.held(s)) {
      run ??= s;
      continue;
    }
    if (run !== undefined) out.push({ type: 'gap', room: 'lobby', from: run, to: s - 1 });
    run = undefined;
    out.push(msg(s));
  }
  if (run !== undefined) out.push({ type: 'gap', room: 'lobby', from: run, to: end });
  out.push({ type: 'fetched', room: 'lobby', from, to: end });
  return out;
}

/** The simulated round trip. */
const TICK_MS = 10;

interface Served {
  fetches: Obj[];
  gaps: Array<{ from: number; to: number }>;
}

/**
 * Plays the room for `ms` of client time, one round trip every TICK_MS: each
 * tick answers the fetches and hbs the client sent during the last one (each
 * answer split into datagrams of a few objects, each lost with probability
 * `loss`). `live` pushes new events at the given times.
 */
function serve(h: Harness, room: RoomModel, opts: { ms: number; loss?: number; seed?: number; live?: Map<number, number> }): Served {
  const rnd = mulberry32(opts.seed ?? 1);
  const lost = () => (opts.loss ?? 0) > 0 && rnd() < (opts.loss ?? 0);
  const fetches: Obj[] = [];
  let next = 0;
  for (let elapsed = 0; elapsed < opts.ms; elapsed += TICK_MS) {
    const seq = opts.live?.get(elapsed);
    if (seq !== undefined) {
      room.latest = Math.max(room.latest, seq);
      if (!lost()) h.net.deliver(ROOM_PORT, msg(seq));
    }
    const upto = h.net.sent.length;
    while (next < upto) {
      const o = h.net.sent[next++]!.obj;
      if (o['type'] === 'fetch') {
        fetches.push(o);
        const objs = answer(room, Number(o['from']), Number(o['to']));
        for (let i = 0; i < objs.length; i += 8) if (!lost()) h.net.deliver(ROOM_PORT, ...objs.slice(i, i + 8));
      } else if (o['type'] === 'hb' && !lost()) {
        h.net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: room.latest });
      }
    }
    h.clock.advance(TICK_MS);
  }
  const gaps = h.events.flatMap((e) => (e.kind === 'gap' ? [{ from: e.from, to: e.to }] : []));
  return { fetches, gaps };
}

/** The held seqs of (after, latest], ascending. */
function heldAfter(room: RoomModel, after: number): number[] {
  const out: number[] = [];
  for (let s = after + 1; s <= room.latest; s++) if (room.held(s)) out.push(s);
  return out;
}

/** The lost runs of (after, latest], merged: the gaps the client may report (adjacent runs may come merged). */
function lostRuns(room: RoomModel, after: number): Array<{ from: number; to: number }> {
  const runs: Array<{ from: number; to: number }> = [];
  let s = after + 1;
  while (s <= room.latest) {
    if (room.held(s)) {
      s++;
      continue;
    }
    let e = s;
    while (e < room.latest && !room.held(e + 1)) e++;
    runs.push({ from: s, to: e });
    s = e + 1;
  }
  return runs;
}

/** Seqs asked for more than once (a fetch's range clamped at the room's latest, as the room does). */
function refetched(fetches: Obj[], latest: number): number {
  const ranges = fetches.map((f) => [Number(f['from']), Math.min(Number(f['to']), latest)] as const).sort((a, b) => a[0] - b[0]);
  let twice = 0;
  let end = 0;
  for (const [from, to] of ranges) {
    if (from <= end) twice += Math.min(to, end) - from + 1;
    end = Math.max(end, to);
  }
  return twice;
}

/**
 * Walks what the application saw: each delivered seq and each gap must start
 * right after the one before. Returns the first seq out of place, or the
 * last seq covered when all is in order.
 */
function coverage(h: Harness, after: number): { inOrder: boolean; through: number } {
  let at = after;
  for (const e of h.events) {
    if (e.kind === 'message' || e.kind === 'presence') {
      if (e.seq !== at + 1) return { inOrder: false, through: e.seq };
      at = e.seq;
    } else if (e.kind === 'gap') {
      if (e.from !== at + 1 || e.to < e.from) return { inOrder: false, through: e.from };
      at = e.to;
    }
  }
  return { inOrder: true, through: at };
}

t.test('a million behind, the room holding its last 1,024: one gap, a few fetches, then every held event in order', async (t) => {
  const h = await joinedClient('lobby', 5);
  const room = suffixRoom(1_000_000, 1_024);
  const { fetches, gaps } = serve(h, room, { ms: 30_000 });
  t.ok(fetches.length <= 40, `${fetches.length} fetches`);
  t.ok(fetches.every((f) => Number(f['to']) - Number(f['from']) + 1 <= 256 && Number(f['from']) >= 1), 'no fetch above 256 seqs');
  t.same(gaps, [{ from: 6, to: 1_000_000 - 1_024 }], 'one gap for everything no longer held');
  t.equal(refetched(fetches, room.latest), 0, 'no seq asked for twice');
  t.same(h.seqs(), heldAfter(room, 5), 'every held event once, in order');
  t.same(coverage(h, 5), { inOrder: true, through: room.latest }, 'delivered and gaps cover every seq once, in order');
});

t.test('far behind a room with holes in its history: each lost run reported, every held event delivered once', async (t) => {
  const h = await joinedClient('lobby', 5);
  const lost: Array<[number, number]> = [
    [999_100, 999_149],
    [999_300, 999_700], // wider than a fetch: a whole reply is gap, events on both sides
    [999_800, 999_800],
    [999_990, 999_995],
  ];
  const room = suffixRoom(1_000_000, 1_024, lost);
  const { fetches, gaps } = serve(h, room, { ms: 30_000 });
  t.ok(fetches.length <= 40, `${fetches.length} fetches`);
  t.same(gaps, lostRuns(room, 5), 'the lost prefix once, then each hole');
  t.equal(refetched(fetches, room.latest), 0, 'no seq asked for twice');
  t.same(h.seqs(), heldAfter(room, 5));
  t.same(coverage(h, 5), { inOrder: true, through: room.latest }, 'delivered and gaps cover every seq once, in order');
});

t.test('holes wider than a fetch near the top are scanned: no held event between them is skipped', async (t) => {
  const h = await joinedClient('lobby', 5);
  // Islands of held events between wide holes, the whole spanning more than the history size.
  const lost: Array<[number, number]> = [
    [996_001, 996_900],
    [996_911, 997_800],
    [997_806, 999_000],
    [999_401, 999_999],
  ];
  const room = suffixRoom(1_000_000, 4_000, lost);
  const { fetches, gaps } = serve(h, room, { ms: 30_000 });
  t.ok(fetches.length <= 40, `${fetches.length} fetches`);
  t.same(gaps, lostRuns(room, 5));
  t.same(h.seqs(), heldAfter(room, 5));
  t.same(coverage(h, 5), { inOrder: true, through: room.latest }, 'delivered and gaps cover every seq once, in order');
});

t.test('a few thousand behind: consecutive all-gap replies make one gap, not one per fetch', async (t) => {
  const h = await joinedClient('lobby', 5);
  const room = suffixRoom(3_000, 1_024);
  const { fetches, gaps } = serve(h, room, { ms: 5_000 });
  t.same(gaps, [{ from: 6, to: 1_976 }]);
  t.ok(fetches.length <= 12, `${fetches.length} fetches`);
  t.same(h.seqs(), heldAfter(room, 5));
});

t.test('a restarted room continuing far above: one gap, then the new events, live ones included', async (t) => {
  const h = await joinedClient('lobby', 500);
  // The restarted room holds nothing between what the client saw and its new sequence.
  const room = suffixRoom(1_000_010, 10);
  const live = new Map([
    [40, 1_000_011],
    [50, 1_000_012],
  ]);
  const { fetches, gaps } = serve(h, room, { ms: 10_000, live });
  t.ok(fetches.length <= 40, `${fetches.length} fetches`);
  t.same(gaps, [{ from: 501, to: 1_000_000 }]);
  t.same(h.seqs(), heldAfter(room, 500));
  t.same(coverage(h, 500), { inOrder: true, through: room.latest }, 'delivered and gaps cover every seq once, in order');
});

t.test('a long history far ahead: the search keeps what its probes fetched, and the rest is fetched in order', async (t) => {
  const h = await joinedClient('lobby', 5);
  const room = suffixRoom(1_000_000, 6_000);
  const { fetches, gaps } = serve(h, room, { ms: 30_000 });
  t.ok(fetches.length <= 40 + Math.ceil(6_000 / 256), `${fetches.length} fetches`);
  t.equal(refetched(fetches, room.latest), 0, 'what the probes brought is kept, not fetched again');
  t.same(gaps, [{ from: 6, to: 994_000 }]);
  t.same(h.seqs(), heldAfter(room, 5));
  t.same(coverage(h, 5), { inOrder: true, through: room.latest }, 'delivered and gaps cover every seq once, in order');
});

t.test('a restarted room that kept its old history, the client behind both: each lost run once, old and new events in order', async (t) => {
  const h = await joinedClient('lobby', 5);
  // Before the restart the room held 977..2,000; it continues at 1,000,001.
  const room: RoomModel = { latest: 1_000_010, held: (s) => (s >= 977 && s <= 2_000) || (s > 1_000_000 && s <= room.latest) };
  const { fetches, gaps } = serve(h, room, { ms: 30_000 });
  t.ok(fetches.length <= 50, `${fetches.length} fetches`);
  t.same(gaps, [
    { from: 6, to: 976 },
    { from: 2_001, to: 1_000_000 },
  ]);
  t.same(h.seqs(), heldAfter(room, 5));
  t.same(coverage(h, 5), { inOrder: true, through: room.latest }, 'delivered and gaps cover every seq once, in order');
});

t.test('on a lossy link: still one gap for the lost prefix, every held event once, in order', async (t) => {
  for (const seed of [1, 2, 3, 4, 5]) {
    const h = await joinedClient('lobby', 5);
    const room = suffixRoom(1_000_000, 1_024, [[999_500, 999_899]]);
    const { fetches, gaps } = serve(h, room, { ms: 60_000, loss: 0.2, seed });
    t.same(gaps, lostRuns(room, 5), `seed ${seed}: the lost prefix once, then the hole`);
    t.same(h.seqs(), heldAfter(room, 5), `seed ${seed}: every held event once, in order`);
    t.ok(fetches.length <= 120, `seed ${seed}: ${fetches.length} fetches`);
  }
});

t.test('a full buffer of live events ahead does not stall a catch-up behind a lost run', async (t) => {
  const h = await joinedClient('lobby', 3);
  const room = suffixRoom(20_000, 19_001);
  // 8,192 live events far ahead fill the buffer before any fetch is answered.
  for (let s = 10_000; s < 10_000 + 8_192; s++) h.net.deliver(ROOM_PORT, msg(s));
  const { gaps } = serve(h, room, { ms: 60_000 });
  t.same(gaps, [{ from: 4, to: 999 }]);
  t.same(h.seqs(), heldAfter(room, 3), 'every held event once, in order');
});

t.test('an event the room reports lost, arriving before the gap is reported, is still delivered', async (t) => {
  const h = await joinedClient('lobby', 3);
  const { net } = h;
  net.deliver(ROOM_PORT, { type: 'hb', room: 'lobby', seq: 600 });
  t.same(net.last('fetch'), { type: 'fetch', from: 4, to: 259, token: 'tok_abcdefghijklmnopqrstu' });
  net.deliver(ROOM_PORT, { type: 'gap', room: 'lobby', from: 4, to: 259 }, { type: 'fetched', room: 'lobby', from: 4, to: 259 });
  t.same(net.last('fetch')['from'], 260, 'the next range at once');
  net.deliver(ROOM_PORT, msg(100)); // a late push of an event the restarted room has lost
  net.deliver(ROOM_PORT, { type: 'gap', room: 'lobby', from: 260, to: 515 }, { type: 'fetched', room: 'lobby', from: 260, to: 515 });
  const rest: Obj[] = [];
  for (let s = 516; s <= 600; s++) rest.push(msg(s));
  net.deliver(ROOM_PORT, ...rest, { type: 'fetched', room: 'lobby', from: 516, to: 600 });
  t.same(
    h.events.filter((e) => e.kind === 'gap'),
    [
      { kind: 'gap', from: 4, to: 99 },
      { kind: 'gap', from: 101, to: 515 },
    ],
    'the run is split around it; the rest of it, over two replies, is one gap',
  );
  t.same(h.seqs(), [100, ...Array.from({ length: 85 }, (_, i) => 516 + i)]);
});
