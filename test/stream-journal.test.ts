// The cluster journal's group commit, retries and fencing against a fake
// JetStream subject: it keeps sequences, dedupes by msgID before it checks
// the expected last sequence (as JetStream does), and can fail publishes
// or lose their acks on demand. Publishes answer when the test says so;
// retry pauses run on a manual clock.
import type { StoredBatch } from '../rooms/stream-records.js';
import t, { type Test } from 'tap';
import { ManualClock } from '../lib/clock.js';
import { JournalClosed, JournalFenced, StreamConflict, StreamJournal, type StreamPort } from '../rooms/stream-journal.js';

interface Call {
  payload: string;
  msgID: string;
  expectLast: number;
  resolve: (ack: { seq: number; duplicate: boolean }) => void;
  reject: (err: Error) => void;
}

class FakeSubject implements StreamPort {
  stored: Array<{ seq: number; payload: string; msgID: string }> = [];
  /** Every publish call, answered or not. */
  calls: Call[] = [];
  /** Calls not answered yet (held: the test answers them with answer()). */
  private waiting: Call[] = [];
  /** While true, publishes wait for answer(); else they are answered at once. */
  hold = false;
  failNext = 0;
  loseAckNext = 0;
  /** Stream-wide sequence: other subjects' messages make gaps in this one's. */
  private streamSeq = 100;

  get last(): number {
    return this.stored.at(-1)?.seq ?? 0;
  }

  publish(payload: Buffer, msgID: string, expectLast: number): Promise<{ seq: number; duplicate: boolean }> {
    return new Promise((resolve, reject) => {
      const call = { payload: payload.toString(), msgID, expectLast, resolve, reject };
      this.calls.push(call);
      this.waiting.push(call);
      if (!this.hold) this.answer();
    });
  }

  /** Answers the oldest waiting publish (or the one `pick` chooses) as the stream would. */
  answer(pick: (c: Call) => boolean = () => true): void {
    const i = this.waiting.findIndex(pick);
    if (i < 0) throw new Error('no publish is waiting');
    const c = this.waiting.splice(i, 1)[0]!;
    if (this.failNext > 0) {
      this.failNext--;
      return c.reject(new Error('503 no responders available'));
    }
    const dup = this.stored.find((s) => s.msgID === c.msgID);
    if (dup) return c.resolve({ seq: dup.seq, duplicate: true });
    if (c.expectLast !== this.last) return c.reject(new StreamConflict(`wrong last sequence: ${this.last}`));
    this.streamSeq += 7;
    this.stored.push({ seq: this.streamSeq, payload: c.payload, msgID: c.msgID });
    if (this.loseAckNext > 0) {
      this.loseAckNext--;
      return c.reject(new Error('TIMEOUT'));
    }
    c.resolve({ seq: this.streamSeq, duplicate: false });
  }

  get pending(): number {
    return this.waiting.length;
  }

  async read(): Promise<{ batches: StoredBatch[]; last: number }> {
    return { batches: this.stored.map((s) => ({ seq: s.seq, data: s.payload })), last: this.last };
  }

  async purgeUpTo(upTo: number): Promise<void> {
    this.stored = this.stored.filter((s) => s.seq > upTo);
  }

  async close(): Promise<void> {}
}

/** Lets promise callbacks and the journal's awaits run (not a sleep: no time passes). */
const turn = () => new Promise<void>((r) => setImmediate(r));
const b = (s: string) => Buffer.from(s);

/** Both errors are ChatErrors named so on the wire: tell them apart by class. */
async function rejectsWith(t: Test, p: Promise<unknown>, cls: new () => Error, msg?: string): Promise<void> {
  try {
    await p;
    t.fail(`${msg ?? cls.name}: resolved`);
  } catch (err) {
    t.ok(err instanceof cls, msg ?? `rejects with ${cls.name}`);
  }
}

/** Records how each append settled, in the order they settled. */
function tracker() {
  const log: string[] = [];
  const track = (name: string, p: Promise<void>) => {
    p.then(
      () => log.push(`${name}:ok`),
      (err: Error) => log.push(`${name}:${err.constructor.name}`),
    );
    return p;
  };
  return { log, track };
}

function setup(last = 0) {
  const clock = new ManualClock();
  const subject = new FakeSubject();
  const trouble: Array<[string, number]> = [];
  const recovered: number[] = [];
  const journal = new StreamJournal({
    port: subject,
    clock,
    writerId: 'w1',
    last,
    onTrouble: (err, attempt) => trouble.push([(err as Error).message, attempt]),
    onRecovered: (n) => recovered.push(n),
  });
  return { clock, subject, journal, trouble, recovered, ...tracker() };
}

t.test('appends made while a publish is in flight go together in the next one, and resolve in order', async (t) => {
  const { subject, journal, log, track } = setup();
  subject.hold = true;
  const all = [track('a', journal.append([b('a')]))];
  t.equal(subject.calls.length, 1, 'the first append is published at once');
  all.push(track('b', journal.append([b('b1'), b('b2')])), track('c', journal.append([b('c')])));
  t.equal(subject.calls.length, 1, 'the others wait for the one in flight');
  subject.answer();
  await turn();
  t.strictSame(log, ['a:ok']);
  t.equal(subject.calls.length, 2, 'one publish for everything that waited');
  t.equal(subject.calls[1]!.payload, 'b1\nb2\nc\n');
  t.equal(subject.calls[1]!.expectLast, subject.stored[0]!.seq, 'expects the sequence its own last batch got');
  subject.answer();
  await Promise.all(all);
  t.strictSame(log, ['a:ok', 'b:ok', 'c:ok']);
  t.strictSame(
    subject.stored.map((s) => [s.payload, s.msgID]),
    [
      ['a\n', 'w1.1'],
      ['b1\nb2\nc\n', 'w1.2'],
    ],
  );
  t.equal(journal.lastSeq, subject.last);
});

t.test('pendingLines counts the lines not stored yet, waiting or in flight', async (t) => {
  const { subject, journal } = setup();
  subject.hold = true;
  t.equal(journal.pendingLines, 0);
  const a = journal.append([b('a1'), b('a2')]);
  const c = journal.append([b('c')]);
  t.equal(journal.pendingLines, 3);
  subject.answer();
  await a;
  t.equal(journal.pendingLines, 1, 'the first batch is stored, the second in flight');
  subject.answer();
  await c;
  t.equal(journal.pendingLines, 0);
});

t.test('a transient failure is retried with the same batch and msgID until it is stored, once', async (t) => {
  const { clock, subject, journal, trouble, recovered, log, track } = setup();
  subject.failNext = 3;
  const attempts = () => subject.calls.filter((c) => c.msgID === 'w1.1').length;
  const p = track('a', journal.append([b('a')]));
  await turn();
  t.equal(attempts(), 1);
  const queued = track('q', journal.append([b('q')]));
  // Pauses double from 50 ms: 50, 100, 200.
  for (const pause of [50, 100, 200]) {
    clock.advance(pause - 1);
    await turn();
    const before = attempts();
    clock.advance(1);
    await turn();
    t.equal(attempts(), before + 1, `retried after ${pause} ms`);
  }
  await Promise.all([p, queued]);
  t.strictSame(log, ['a:ok', 'q:ok']);
  t.strictSame(
    new Set(subject.calls.filter((c) => c.msgID !== 'w1.2').map((c) => `${c.msgID}|${c.payload}|${c.expectLast}`)),
    new Set(['w1.1|a\n|0']),
    'every attempt was the same publish',
  );
  t.strictSame(
    subject.stored.map((s) => s.payload),
    ['a\n', 'q\n'],
    'stored once, and what waited went after it',
  );
  t.strictSame(trouble, [['503 no responders available', 0]], 'told once per spell');
  t.strictSame(recovered, [3]);
  t.equal(journal.pendingLines, 0);
});

t.test('a publish stored whose ack was lost is answered duplicate on retry: stored once', async (t) => {
  const { clock, subject, journal, recovered } = setup();
  subject.loseAckNext = 1;
  const p = journal.append([b('a')]);
  await turn();
  t.equal(subject.stored.length, 1, 'stored, though the writer does not know it');
  clock.advance(50);
  await p;
  t.equal(subject.calls.length, 2);
  t.equal(subject.calls[1]!.msgID, subject.calls[0]!.msgID);
  t.equal(subject.stored.length, 1, 'not stored twice');
  t.equal(journal.lastSeq, subject.stored[0]!.seq, 'the duplicate answer carries the sequence it was stored at');
  t.strictSame(recovered, [1]);
  // The next batch expects that sequence: a wrong lastSeq would be fenced here.
  await journal.append([b('next')]);
  t.strictSame(
    subject.stored.map((s) => s.payload),
    ['a\n', 'next\n'],
  );
});

t.test('a rival writer\'s claim fences the first: in flight, queued and later appends are refused', async (t) => {
  const { subject, journal, log, track } = setup();
  await journal.append([b('mine')]);
  subject.hold = true;
  const inFlight = track('inflight', journal.append([b('x')]));
  const queued = track('queued', journal.append([b('y')]));
  // The other node read the subject up to here and claims it.
  const rival = new StreamJournal({ port: subject, clock: new ManualClock(), writerId: 'w2', last: subject.last });
  const claimed = rival.append([b('claim')]);
  subject.answer((c) => c.msgID === 'w2.1');
  await claimed;
  subject.answer();
  await rejectsWith(t, inFlight, JournalFenced);
  await rejectsWith(t, queued, JournalFenced);
  t.strictSame(log, ['inflight:JournalFenced', 'queued:JournalFenced']);
  const callsBefore = subject.calls.length;
  await rejectsWith(t, journal.append([b('z')]), JournalFenced, 'refused at once');
  t.equal(subject.calls.length, callsBefore, 'without a publish');
  t.equal(journal.pendingLines, 0);
  t.strictSame(
    subject.stored.map((s) => s.payload),
    ['mine\n', 'claim\n'],
  );
  // The rival goes on as if nothing happened.
  subject.hold = false;
  await rival.append([b('after')]);
  t.equal(subject.stored.at(-1)!.payload, 'after\n');
});

t.test('a first publish expects the sequence the writer read', async (t) => {
  const subject = new FakeSubject();
  const first = new StreamJournal({ port: subject, clock: new ManualClock(), writerId: 'old', last: 0 });
  await first.append([b('one')]);
  const stale = new StreamJournal({ port: subject, clock: new ManualClock(), writerId: 'stale', last: 0 });
  await rejectsWith(t, stale.append([b('two')]), JournalFenced, 'read before the last batch: fenced on its first append');
  const fresh = new StreamJournal({ port: subject, clock: new ManualClock(), writerId: 'fresh', last: subject.last });
  await fresh.append([b('two')]);
  t.equal(subject.stored.length, 2);
});

t.test('close rejects what is queued with JournalClosed and ends a retry pause at once', async (t) => {
  const { clock, subject, journal, log, track } = setup();
  subject.failNext = 1;
  const a = track('a', journal.append([b('a')]));
  const q = track('q', journal.append([b('q')]));
  await turn();
  t.equal(clock.timerCount, 1, 'waiting to retry');
  journal.close();
  await rejectsWith(t, a, JournalClosed);
  await rejectsWith(t, q, JournalClosed);
  t.strictSame(log, ['a:JournalClosed', 'q:JournalClosed'], 'without the clock moving');
  t.equal(clock.timerCount, 0, 'no retry timer is left behind');
  t.equal(subject.calls.length, 1, 'and no retry was made');
  t.equal(journal.pendingLines, 0);
  await rejectsWith(t, journal.append([b('late')]), JournalClosed);
});

t.test('close with nothing in flight rejects the queue at once', async (t) => {
  const { journal } = setup();
  journal.close();
  await rejectsWith(t, journal.append([b('x')]), JournalClosed);
  journal.close();
});

t.test('close while a publish is in flight: it settles as stored, what waited behind it is refused', async (t) => {
  const { subject, journal, log, track } = setup();
  subject.hold = true;
  const a = track('a', journal.append([b('a')]));
  const q = track('q', journal.append([b('q')]));
  journal.close();
  t.strictSame(log, [], 'the batch in flight may yet be stored');
  subject.answer();
  await a;
  await turn();
  t.strictSame(log, ['a:ok', 'q:JournalClosed']);
  await rejectsWith(t, q, JournalClosed);
  t.equal(subject.calls.length, 1, 'nothing more is published after close');
  t.equal(journal.pendingLines, 0);
});

t.test('close while a publish is in flight that then fails: no retry pause', async (t) => {
  const { clock, subject, journal, log, track } = setup();
  subject.hold = true;
  const a = track('a', journal.append([b('a')]));
  journal.close();
  subject.failNext = 1;
  subject.answer();
  await turn();
  t.strictSame(log, ['a:JournalClosed'], 'settled without the clock moving');
  await rejectsWith(t, a, JournalClosed);
  t.equal(clock.timerCount, 0);
  t.equal(subject.calls.length, 1);
});
