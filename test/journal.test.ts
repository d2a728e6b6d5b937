import t from 'tap';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { encode } from '../lib/codec.js';
import { FileJournal, MemoryJournal, parseJournal, readJournal } from '../rooms/journal.js';

const msg = (seq: number, text = `m${seq}`) =>
  encode({ type: 'msg', room: 'lobby', seq, member: 'm1', nick: 'ann', text, ts: 1_700_000_000_000 + seq, id: `s${seq}` });
const presence = (seq: number, event = 'join') => encode({ type: 'presence', room: 'lobby', seq, event, member: 'm2', nick: 'bob' });
const lines = (...bufs: Buffer[]) => bufs.map((b) => `${b.toString()}\n`).join('');
const seqs = (r: { events: Array<{ seq: number }> }) => r.events.map((e) => e.seq);

t.test('appended events are written on flush and read back in order', async (t) => {
  const path = join(t.testdir({}), 'rooms', 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  t.equal(existsSync(path), true, 'the file and its directory are created on open');
  const events = [presence(1), msg(2), msg(3, 'h\u00e9 \u{1F600}')];
  for (const e of events) j.append(e);
  j.flush();
  t.equal(readFileSync(path, 'utf8'), lines(...events), 'one JSON line per event');
  const r = readJournal(path);
  t.strictSame(seqs(r), [1, 2, 3]);
  t.equal(r.skipped, 0);
  t.strictSame(
    r.events.map((e) => e.encoded.toString()),
    events.map((e) => e.toString()),
    'encoded bytes are the appended bytes',
  );
  t.strictSame(r.events[2]?.value, JSON.parse(events[2]!.toString()));
  j.close();
});

t.test('nothing reaches the file before flush', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  j.append(msg(1));
  j.append(msg(2));
  t.equal(readFileSync(path, 'utf8'), '', 'appended but not flushed');
  t.strictSame(seqs(readJournal(path)), []);
  j.flush();
  t.strictSame(seqs(readJournal(path)), [1, 2]);
  j.flush();
  t.equal(readFileSync(path, 'utf8'), lines(msg(1), msg(2)), 'a second flush writes nothing again');
  j.append(msg(3));
  j.close();
  t.strictSame(seqs(readJournal(path)), [1, 2, 3], 'close flushes');
});

t.test('a journal opened on an existing file appends to it', async (t) => {
  const dir = t.testdir({ 'lobby.jsonl': lines(msg(1), msg(2)) });
  const path = join(dir, 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  j.append(msg(3));
  j.close();
  t.strictSame(seqs(readJournal(path)), [1, 2, 3]);
});

t.test('needsCompaction turns true once compactAt lines were appended', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 3);
  j.append(msg(1));
  j.append(msg(2));
  t.equal(j.needsCompaction, false);
  j.append(msg(3));
  t.equal(j.needsCompaction, true);
  j.close();
});

t.test('compaction rewrites the file to the given events and appending goes on after them', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 4);
  for (let s = 1; s <= 4; s++) j.append(msg(s));
  j.flush();
  t.equal(j.needsCompaction, true);
  j.compact([msg(3), msg(4)]);
  t.equal(readFileSync(path, 'utf8'), lines(msg(3), msg(4)));
  t.equal(j.needsCompaction, false, 'the line count restarts from the compacted events');
  j.append(msg(5));
  j.flush();
  t.equal(readFileSync(path, 'utf8'), lines(msg(3), msg(4), msg(5)));
  t.equal(j.needsCompaction, false, '3 lines of 4');
  j.append(msg(6));
  t.equal(j.needsCompaction, true, '4 lines of 4');
  j.close();
  t.strictSame(seqs(readJournal(path)), [3, 4, 5, 6]);
  t.strictSame(readdirSync(join(path, '..')), ['lobby.jsonl'], 'no temporary file is left behind');
});

t.test('compaction replaces events appended but not yet flushed', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  j.append(msg(1));
  j.append(msg(2));
  j.compact([msg(2)]);
  j.close();
  t.equal(readFileSync(path, 'utf8'), lines(msg(2)));
});

t.test('compaction to no events empties the file', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 2);
  j.append(msg(1));
  j.append(msg(2));
  j.compact([]);
  t.equal(readFileSync(path, 'utf8'), '');
  j.append(msg(3));
  j.close();
  t.strictSame(seqs(readJournal(path)), [3]);
});

t.test(
  'an event appended after a torn last line is read back after the next restart',
  async (t) => {
    const torn = msg(3).subarray(0, 30).toString();
    const dir = t.testdir({ 'lobby.jsonl': lines(msg(1), msg(2)) + torn });
    const path = join(dir, 'lobby.jsonl');
    const before = readJournal(path);
    t.strictSame(seqs(before), [1, 2], 'the restarted room restores seq 2');
    t.equal(before.skipped, 1);
    const j = new FileJournal(path, 100);
    j.append(msg(3, 'sent to members after the restart'));
    j.close();
    t.strictSame(seqs(readJournal(path)), [1, 2, 3], 'seq 3 survives the next restart');
  },
);

t.test(
  'a journal reopened on a file counts the lines already in it toward compaction',
  async (t) => {
    const dir = t.testdir({ 'lobby.jsonl': lines(msg(1), msg(2), msg(3)) });
    const j = new FileJournal(join(dir, 'lobby.jsonl'), 4);
    j.append(msg(4));
    t.equal(j.needsCompaction, true, 'the file holds 4 lines');
    j.close();
  },
);

t.test('readJournal of a missing file returns no events', async (t) => {
  t.strictSame(readJournal(join(t.testdir({}), 'never-written.jsonl')), { events: [], skipped: 0 });
});

t.test('parseJournal skips a torn last line', async (t) => {
  const text = lines(msg(1), msg(2)) + msg(3).toString().slice(0, 25);
  const r = parseJournal(text);
  t.strictSame(seqs(r), [1, 2]);
  t.equal(r.skipped, 1);
});

t.test('parseJournal skips a corrupt middle line and keeps the rest', async (t) => {
  const text = `${msg(1)}\n{"type":"msg","ro\u0000garbage\n${msg(2)}\n\u00ff\u00fe\n${msg(3)}\n`;
  const r = parseJournal(text);
  t.strictSame(seqs(r), [1, 2, 3]);
  t.equal(r.skipped, 2);
});

t.test('parseJournal keeps only strictly increasing seqs', async (t) => {
  const r = parseJournal(lines(msg(1), msg(2), msg(2, 'dup'), msg(1, 'old'), msg(5), msg(4), presence(6)));
  t.strictSame(seqs(r), [1, 2, 5, 6], 'a hole is kept; going back is not');
  t.equal(r.skipped, 3);
  t.equal(r.events[1]?.value['text'], 'm2', 'the first of two equal seqs wins');
});

t.test('parseJournal skips valid JSON that is not a msg or presence event', async (t) => {
  const notEvents = [
    '{"type":"hb","room":"lobby","seq":3}',
    '{"type":"closed","room":"lobby","reason":"shutdown"}',
    '{"room":"lobby","seq":4,"member":"m","nick":"n","text":"t","ts":1,"id":"i"}',
    '{"type":"msg","room":"lobby","seq":5}',
    '{"type":"msg","room":"lobby","seq":0,"member":"m","nick":"n","text":"t","ts":1,"id":"i"}',
    '{"type":"msg","room":"lobby","seq":"6","member":"m","nick":"n","text":"t","ts":1,"id":"i"}',
    '{"type":"presence","room":"lobby","seq":7,"event":"kick","member":"m","nick":"n"}',
    '[1,2,3]',
    '"msg"',
    '42',
    'null',
  ];
  const text = `${msg(1)}\n${notEvents.join('\n')}\n${presence(8)}\n`;
  const r = parseJournal(text);
  t.strictSame(seqs(r), [1, 8]);
  t.equal(r.skipped, notEvents.length);
});

t.test('parseJournal ignores blank lines without counting them', async (t) => {
  const r = parseJournal(`\n${msg(1)}\n\n\n${msg(2)}\n\n`);
  t.strictSame(seqs(r), [1, 2]);
  t.equal(r.skipped, 0);
  t.strictSame(parseJournal(''), { events: [], skipped: 0 });
});

t.test('parseJournal keeps a presence event of each kind', async (t) => {
  const r = parseJournal(lines(presence(1, 'join'), presence(2, 'leave'), presence(3, 'evict')));
  t.strictSame(r.events.map((e) => e.value['event']), ['join', 'leave', 'evict']);
  t.equal(r.skipped, 0);
});

t.test('readJournal reads what a journal file holds, corrupt lines included', async (t) => {
  const dir = t.testdir({ 'lobby.jsonl': `${msg(1)}\nnot json\n${msg(2)}\n{"type":"msg"` });
  const r = readJournal(join(dir, 'lobby.jsonl'));
  t.strictSame(seqs(r), [1, 2]);
  t.equal(r.skipped, 2);
});

t.test('a journal line is exactly what was appended, even with a newline in the text', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  j.append(msg(1, 'two\nlines'));
  j.close();
  const r = readJournal(path);
  t.equal(r.events[0]?.value['text'], 'two\nlines', 'JSON escapes the newline, so the line is whole');
});

t.test('a memory journal keeps lines only once flushed', async (t) => {
  const j = new MemoryJournal();
  t.equal(j.needsCompaction, false);
  j.append(msg(1));
  j.append(msg(2));
  t.strictSame(j.lines, [], 'nothing before flush');
  j.flush();
  t.strictSame(j.lines.map(String), [msg(1), msg(2)].map(String));
  j.append(msg(3));
  j.close();
  t.strictSame(j.lines.map(String), [msg(1), msg(2), msg(3)].map(String), 'close flushes');
});

t.test('a memory journal compacts to the given events and drops pending ones', async (t) => {
  const j = new MemoryJournal();
  j.append(msg(1));
  j.flush();
  j.append(msg(2));
  const keep = [msg(2)];
  j.compact(keep);
  t.strictSame(j.lines.map(String), [msg(2)].map(String));
  t.not(j.lines, keep, 'a copy of the array');
  j.flush();
  t.strictSame(j.lines.map(String), [msg(2)].map(String), 'the dropped pending event does not come back');
  j.append(msg(3));
  j.flush();
  t.strictSame(j.lines.map(String), [msg(2), msg(3)].map(String));
});

t.test('fsync modes behave as documented', async (t) => {
  const { ManualClock } = await import('../lib/clock.js');
  const run = (mode: 'always' | 'interval' | 'never') => {
    const clock = new ManualClock();
    const synced: number[] = [];
    const j = new FileJournal(join(t.testdir({}), `${mode}.jsonl`), 100, { mode, intervalMs: 1_000, clock, fsync: () => synced.push(clock.now() - 1_700_000_000_000) });
    return { j, clock, synced };
  };
  await t.test('always: one fsync per write, before the flush returns', async (t) => {
    const { j, synced } = run('always');
    j.append(msg(1));
    t.same(synced, [], 'nothing before a write');
    j.flush();
    t.equal(synced.length, 1);
    j.append(msg(2));
    j.append(msg(3));
    j.flush();
    t.equal(synced.length, 2, 'one per write, however many events it holds');
    j.close();
  });
  await t.test('interval: at most one fsync per interval, and none when idle', async (t) => {
    const { j, clock, synced } = run('interval');
    for (let i = 1; i <= 5; i++) {
      j.append(msg(i));
      j.flush();
      clock.advance(100);
    }
    t.same(synced, [], 'not yet: the interval has not passed');
    clock.advance(500);
    t.same(synced, [1_000], 'five writes in 500 ms: one fsync, 1 s after the first');
    clock.advance(5_000);
    t.same(synced, [1_000], 'no writes: no more fsyncs');
    j.append(msg(6));
    j.flush();
    j.close();
    t.equal(synced.length, 2, 'close syncs what the interval had not yet');
    t.equal(clock.timerCount, 0, 'no timer left');
  });
  await t.test('never: no fsync at all', async (t) => {
    const { j, clock, synced } = run('never');
    j.append(msg(1));
    j.flush();
    clock.advance(10_000);
    j.close();
    t.same(synced, []);
  });
});

t.test('interval fsync runs off the event loop, one at a time, and a failure surfaces at the next flush', async (t) => {
  const { ManualClock } = await import('../lib/clock.js');
  const { fstatSync } = await import('node:fs');
  const clock = new ManualClock();
  const started: number[] = [];
  let finish: ((err: NodeJS.ErrnoException | null) => void) | undefined;
  let syncOnLoop = 0;
  const j = new FileJournal(join(t.testdir({}), 'async.jsonl'), 4, {
    mode: 'interval',
    intervalMs: 1_000,
    clock,
    fsync: () => syncOnLoop++,
    fsyncAsync: (fd, done) => {
      started.push(fd);
      finish = done;
    },
  });
  j.append(msg(1));
  j.flush();
  clock.advance(1_000);
  t.equal(started.length, 1, 'an fsync began on the thread pool');
  const first = started[0]!;
  // Writes go on while it runs; compaction replaces the descriptor meanwhile.
  for (let i = 2; i <= 5; i++) {
    j.append(msg(i));
    j.flush();
  }
  t.ok(j.needsCompaction);
  j.compact([msg(4), msg(5)]);
  t.equal(syncOnLoop, 1, 'only compaction syncs on the loop (its new file, before the rename)');
  t.doesNotThrow(() => fstatSync(first), 'the descriptor under the fsync stays open until it ends');
  clock.advance(1_000);
  t.equal(started.length, 1, 'no second fsync while the first runs');
  finish!(null);
  t.throws(() => fstatSync(first), 'then it is closed');
  clock.advance(1_000);
  t.equal(started.length, 2, 'the writes made meanwhile are synced at the next interval');
  t.not(started[1], first, 'on the new descriptor');
  finish!(Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' }));
  j.append(msg(6));
  t.throws(() => j.flush(), { code: 'EIO' }, 'a failed fsync fails the next flush, as a failed write would');
});
