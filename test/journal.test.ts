import t from 'tap';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ManualClock } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import { FileJournal, JournalError, MemoryJournal, parseJournal, readJournal, type JournalFs } from '../rooms/journal.js';
import { writeSync, ftruncateSync } from 'node:fs';

const msg = (seq: number, text = `m${seq}`) =>
  encode({ type: 'msg', room: 'lobby', seq, member: 'm1', nick: 'ann', text, ts: 1_700_000_000_000 + seq, id: `s${seq}` });
const presence = (seq: number, event = 'join') => encode({ type: 'presence', room: 'lobby', seq, event, member: 'm2', nick: 'bob' });
const lines = (...bufs: Buffer[]) => bufs.map((b) => `${b.toString()}\n`).join('');
const seqs = (r: { events: Array<{ seq: number }> }) => r.events.map((e) => e.seq);
/** One field of a restored event, whichever kind it is. */
const field = (value: object | undefined, key: string) => (value as Record<string, unknown> | undefined)?.[key];

t.test('written events are in the file at once, one line each, and read back in order', async (t) => {
  const path = join(t.testdir({}), 'rooms', 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  t.equal(existsSync(path), true, 'the file and its directory are created on open');
  const events = [presence(1), msg(2), msg(3, 'h\u00e9 \u{1F600}')];
  j.write(events);
  t.equal(readFileSync(path, 'utf8'), lines(...events), 'one JSON line per event');
  const r = readJournal(path);
  t.strictSame(seqs(r), [1, 2, 3]);
  t.equal(r.skipped, 0);
  t.equal(r.missing, false);
  t.strictSame(
    r.events.map((e) => e.encoded.toString()),
    events.map((e) => e.toString()),
    'encoded bytes are the written bytes',
  );
  t.strictSame(r.events[2]?.value, JSON.parse(events[2]!.toString()));
  j.write([]);
  t.equal(readFileSync(path, 'utf8'), lines(...events), 'an empty write writes nothing');
  j.close();
});

t.test('a journal opened on an existing file writes after it', async (t) => {
  const dir = t.testdir({ 'lobby.jsonl': lines(msg(1), msg(2)) });
  const path = join(dir, 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  j.write([msg(3)]);
  j.close();
  t.strictSame(seqs(readJournal(path)), [1, 2, 3]);
});

/** A file system whose writes are cut short or fail as a full disk's are. */
function flakyFs(plan: { shortBy?: number; failAfterBytes?: number; truncateFails?: boolean }) {
  let written = 0;
  const calls: string[] = [];
  const fs: JournalFs = {
    write(fd, buf, offset, length, position) {
      const room = plan.failAfterBytes === undefined ? length : plan.failAfterBytes - written;
      if (room <= 0) {
        calls.push('ENOSPC');
        throw Object.assign(new Error(`ENOSPC: no space left on device, write '/secret/path'`), { code: 'ENOSPC' });
      }
      // tmpfs: a short count first, the error only on the next call.
      const n = Math.min(length, room, plan.shortBy !== undefined ? Math.max(1, length - plan.shortBy) : length);
      calls.push(`write ${n}`);
      written += n;
      return writeSync(fd, buf, offset, n, position);
    },
    truncate(fd, len) {
      calls.push(`truncate ${len}`);
      if (plan.truncateFails) throw Object.assign(new Error('EIO'), { code: 'EIO' });
      ftruncateSync(fd, len);
    },
  };
  return { fs, calls, free: () => (plan.failAfterBytes = undefined) };
}

t.test('a short write is continued, not taken for the whole', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const f = flakyFs({ shortBy: 7 });
  const j = new FileJournal(path, 100, undefined, f.fs);
  j.write([msg(1), msg(2)]);
  t.ok(f.calls.length > 1, `written in ${f.calls.length} calls`);
  t.equal(readFileSync(path, 'utf8'), lines(msg(1), msg(2)), 'the file holds both events whole');
  j.close();
});

t.test('a write that fails part way is cut off again and refused, and writes work once space returns', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const first = lines(msg(1), msg(2));
  const f = flakyFs({ failAfterBytes: first.length + 40 });
  const j = new FileJournal(path, 100, undefined, f.fs);
  j.write([msg(1), msg(2)]);
  const err = t.throws(() => j.write([msg(3), msg(4)])) as JournalError;
  t.type(err, JournalError);
  t.equal(err.code, 'ROOM_UNAVAILABLE');
  t.equal(err.errno, 'ENOSPC');
  t.match(err.message, /disk is full/);
  t.notMatch(err.message, /secret|\//, 'the message names no path');
  t.equal(readFileSync(path, 'utf8'), first, 'the 40 bytes of the failed write are gone: no half event on disk');
  t.throws(() => j.write([msg(3)]), { code: 'ROOM_UNAVAILABLE', errno: 'ENOSPC' }, 'still full: refused again');
  f.free();
  j.write([msg(3)]);
  t.equal(readFileSync(path, 'utf8'), lines(msg(1), msg(2), msg(3)), 'space is back: the next write lands right after the good part');
  j.close();
  t.strictSame(seqs(readJournal(path)), [1, 2, 3]);
});

t.test('a failed write that cannot be cut off makes the journal refuse writes until a cut works', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const plan = { failAfterBytes: lines(msg(1)).length + 10, truncateFails: true };
  const f = flakyFs(plan);
  const j = new FileJournal(path, 100, undefined, f.fs);
  j.write([msg(1)]);
  t.throws(() => j.write([msg(2)]), { code: 'ROOM_UNAVAILABLE' });
  f.free();
  t.throws(() => j.write([msg(2)]), { message: /could not be undone/ }, 'space is back, but the torn tail is still there');
  plan.truncateFails = false;
  j.write([msg(2)]);
  t.equal(readFileSync(path, 'utf8'), lines(msg(1), msg(2)));
  j.close();
});

t.test('needsCompaction turns true once compactAt lines were written', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 3);
  j.write([msg(1), msg(2)]);
  t.equal(j.needsCompaction, false);
  j.write([msg(3)]);
  t.equal(j.needsCompaction, true);
  j.close();
});

t.test('compaction rewrites the file to the given events and writing goes on after them', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 4);
  j.write([msg(1), msg(2), msg(3), msg(4)]);
  t.equal(j.needsCompaction, true);
  j.compact([msg(3), msg(4)]);
  t.equal(readFileSync(path, 'utf8'), lines(msg(3), msg(4)));
  t.equal(j.needsCompaction, false, 'the line count restarts from the compacted events');
  j.write([msg(5)]);
  t.equal(readFileSync(path, 'utf8'), lines(msg(3), msg(4), msg(5)));
  t.equal(j.needsCompaction, false, '3 lines of 4');
  j.write([msg(6)]);
  t.equal(j.needsCompaction, true, '4 lines of 4');
  j.close();
  t.strictSame(seqs(readJournal(path)), [3, 4, 5, 6]);
  t.strictSame(readdirSync(join(path, '..')), ['lobby.jsonl'], 'no temporary file is left behind');
});

t.test('a compaction that fails keeps the old file whole and is tried again later', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'lobby.jsonl');
  const plan: { failAfterBytes?: number } = {};
  const f = flakyFs(plan);
  const j = new FileJournal(path, 4, undefined, f.fs);
  j.write([msg(1), msg(2), msg(3), msg(4)]);
  plan.failAfterBytes = 0; // counted from here on: the next write fails at once
  t.throws(() => j.compact([msg(3), msg(4)]), { code: 'ROOM_UNAVAILABLE' });
  t.equal(readFileSync(path, 'utf8'), lines(msg(1), msg(2), msg(3), msg(4)), 'the journal is untouched');
  t.strictSame(readdirSync(dir), ['lobby.jsonl'], 'the temporary file is removed');
  t.equal(j.needsCompaction, false, 'not tried again at once');
  f.free();
  j.write([msg(5)]);
  t.equal(j.needsCompaction, true, 'but again after a quarter of compactAt more lines');
  j.close();
});

t.test('compaction to no events empties the file', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 2);
  j.write([msg(1), msg(2)]);
  j.compact([]);
  t.equal(readFileSync(path, 'utf8'), '');
  j.write([msg(3)]);
  j.close();
  t.strictSame(seqs(readJournal(path)), [3]);
});

t.test('a torn last line is reported, cut before writing, and what follows survives the next restart', async (t) => {
  const torn = msg(3).subarray(0, 30).toString();
  const dir = t.testdir({ 'lobby.jsonl': lines(msg(1), msg(2)) + torn });
  const path = join(dir, 'lobby.jsonl');
  const before = readJournal(path);
  t.strictSame(seqs(before), [1, 2], 'the restarted room restores seq 2');
  t.equal(before.tornBytes, 30);
  t.equal(before.skipped, 0, 'a torn tail is not a skipped line');
  const j = new FileJournal(path, 100);
  j.write([msg(3, 'sent to members after the restart')]);
  j.close();
  t.strictSame(seqs(readJournal(path)), [1, 2, 3], 'seq 3 survives the next restart');
});

t.test('a journal reopened on a file counts the lines already in it toward compaction', async (t) => {
  const dir = t.testdir({ 'lobby.jsonl': lines(msg(1), msg(2), msg(3)) });
  const j = new FileJournal(join(dir, 'lobby.jsonl'), 4);
  j.write([msg(4)]);
  t.equal(j.needsCompaction, true, 'the file holds 4 lines');
  j.close();
});

t.test('readJournal of a missing file says so', async (t) => {
  t.strictSame(readJournal(join(t.testdir({}), 'never-written.jsonl')), { events: [], skipped: 0, reordered: 0, tornBytes: 0, missing: true });
});

t.test('parseJournal skips a corrupt middle line and keeps the rest', async (t) => {
  const text = `${msg(1)}\n{"type":"msg","ro\u0000garbage\n${msg(2)}\n\u00ff\u00fe\n${msg(3)}\n`;
  const r = parseJournal(text);
  t.strictSame(seqs(r), [1, 2, 3]);
  t.equal(r.skipped, 2);
});

t.test('parseJournal keeps out-of-order lines in seq order and a seq only once', async (t) => {
  const r = parseJournal(lines(msg(1), msg(2), msg(2, 'dup'), msg(1, 'old'), msg(5), msg(4), presence(6)));
  t.strictSame(seqs(r), [1, 2, 4, 5, 6], 'nothing before the bad line is lost; a hole (3) stays a hole');
  t.equal(r.skipped, 2, 'the repeated seqs');
  t.equal(r.reordered, 1, 'seq 4 came after 5');
  t.equal(field(r.events[1]?.value, 'text'), 'm2', 'the first of two equal seqs wins');
});

t.test('one line out of order in the middle does not cost the history before it', async (t) => {
  const r = parseJournal(lines(msg(1), msg(2), msg(3), msg(40), msg(4), msg(5)));
  t.strictSame(seqs(r), [1, 2, 3, 4, 5, 40]);
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
  t.strictSame(parseJournal(''), { events: [], skipped: 0, reordered: 0 });
});

t.test('parseJournal keeps a presence event of each kind', async (t) => {
  const r = parseJournal(lines(presence(1, 'join'), presence(2, 'leave'), presence(3, 'evict')));
  t.strictSame(r.events.map((e) => field(e.value, 'event')), ['join', 'leave', 'evict']);
  t.equal(r.skipped, 0);
});

t.test('readJournal reads what a journal file holds, corrupt lines included', async (t) => {
  const dir = t.testdir({ 'lobby.jsonl': `${msg(1)}\nnot json\n${msg(2)}\n{"type":"msg"` });
  const r = readJournal(join(dir, 'lobby.jsonl'));
  t.strictSame(seqs(r), [1, 2]);
  t.equal(r.skipped, 1);
  t.equal(r.tornBytes, '{"type":"msg"'.length);
});

t.test('a journal line is exactly what was written, even with a newline in the text', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  const j = new FileJournal(path, 100);
  j.write([msg(1, 'two\nlines')]);
  j.close();
  const r = readJournal(path);
  t.equal(field(r.events[0]?.value, 'text'), 'two\nlines', 'JSON escapes the newline, so the line is whole');
});

t.test('a memory journal keeps what is written, compacts to a copy, and fails when told to', async (t) => {
  const j = new MemoryJournal();
  t.equal(j.needsCompaction, false);
  j.write([msg(1), msg(2)]);
  t.strictSame(j.lines.map(String), [msg(1), msg(2)].map(String));
  const keep = [msg(2)];
  j.compact(keep);
  t.strictSame(j.lines.map(String), [msg(2)].map(String));
  t.not(j.lines, keep, 'a copy of the array');
  j.failWith = new JournalError('ENOSPC', 'full');
  t.throws(() => j.write([msg(3)]), { code: 'ROOM_UNAVAILABLE', errno: 'ENOSPC' });
  t.strictSame(j.lines.map(String), [msg(2)].map(String));
});

t.test('fsync modes behave as documented', async (t) => {
  const run = (mode: 'always' | 'interval' | 'never') => {
    const clock = new ManualClock();
    const synced: number[] = [];
    const j = new FileJournal(join(t.testdir({}), `${mode}.jsonl`), 100, { mode, intervalMs: 1_000, clock, fsync: () => synced.push(clock.now() - 1_700_000_000_000) });
    return { j, clock, synced };
  };
  await t.test('always: one fsync per write, before the write returns', async (t) => {
    const { j, synced } = run('always');
    t.same(synced, [], 'nothing before a write');
    j.write([msg(1)]);
    t.equal(synced.length, 1);
    j.write([msg(2), msg(3)]);
    t.equal(synced.length, 2, 'one per write, however many events it holds');
    j.close();
  });
  await t.test('interval: at most one fsync per interval, and none when idle', async (t) => {
    const { j, clock, synced } = run('interval');
    for (let i = 1; i <= 5; i++) {
      j.write([msg(i)]);
      clock.advance(100);
    }
    t.same(synced, [], 'not yet: the interval has not passed');
    clock.advance(500);
    t.same(synced, [1_000], 'five writes in 500 ms: one fsync, 1 s after the first');
    clock.advance(5_000);
    t.same(synced, [1_000], 'no writes: no more fsyncs');
    j.write([msg(6)]);
    j.close();
    t.equal(synced.length, 2, 'close syncs what the interval had not yet');
    t.equal(clock.timerCount, 0, 'no timer left');
  });
  await t.test('never: no fsync at all', async (t) => {
    const { j, clock, synced } = run('never');
    j.write([msg(1)]);
    clock.advance(10_000);
    j.close();
    t.same(synced, []);
  });
});

t.test('an fsync that fails under `always` refuses the write and takes it back', async (t) => {
  const path = join(t.testdir({}), 'lobby.jsonl');
  let fail = false;
  const j = new FileJournal(path, 100, {
    mode: 'always',
    intervalMs: 1_000,
    fsync: () => {
      if (fail) throw Object.assign(new Error('EIO: i/o error, fsync'), { code: 'EIO' });
    },
  });
  j.write([msg(1)]);
  fail = true;
  t.throws(() => j.write([msg(2)]), { code: 'ROOM_UNAVAILABLE', errno: 'EIO' });
  t.equal(readFileSync(path, 'utf8'), lines(msg(1)));
  fail = false;
  j.write([msg(2)]);
  t.strictSame(seqs(readJournal(path)), [1, 2]);
  j.close();
});

t.test('interval fsync runs off the event loop, one at a time, and a failure is retried before the next write', async (t) => {
  const { fstatSync } = await import('node:fs');
  const clock = new ManualClock();
  const started: number[] = [];
  let finish: ((err: NodeJS.ErrnoException | null) => void) | undefined;
  let syncOnLoop = 0;
  let loopSyncFails = false;
  const j = new FileJournal(join(t.testdir({}), 'async.jsonl'), 4, {
    mode: 'interval',
    intervalMs: 1_000,
    clock,
    fsync: () => {
      syncOnLoop++;
      if (loopSyncFails) throw Object.assign(new Error('EIO'), { code: 'EIO' });
    },
    fsyncAsync: (fd, done) => {
      started.push(fd);
      finish = done;
    },
  });
  j.write([msg(1)]);
  clock.advance(1_000);
  t.equal(started.length, 1, 'an fsync began on the thread pool');
  const first = started[0]!;
  // Writes go on while it runs; compaction replaces the descriptor meanwhile.
  for (let i = 2; i <= 5; i++) j.write([msg(i)]);
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
  loopSyncFails = true;
  t.throws(() => j.write([msg(6)]), { code: 'ROOM_UNAVAILABLE', errno: 'EIO' }, 'a failed fsync fails the next write while a retry fails');
  loopSyncFails = false;
  j.write([msg(6)]);
  t.pass('a retried fsync that works lets writes go on');
  j.close();
});

t.test('a file the journal opens is written at its end, whatever it held', async (t) => {
  const dir = t.testdir({});
  const path = join(dir, 'lobby.jsonl');
  writeFileSync(path, lines(msg(1)));
  const j = new FileJournal(path, 100);
  j.write([msg(2)]);
  j.close();
  t.equal(readFileSync(path, 'utf8'), lines(msg(1), msg(2)));
});
