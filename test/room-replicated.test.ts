// A room in cluster mode, in memory: its replicated journal is a hand-held
// one whose appends the test resolves or rejects, so each check can look
// at the room between "handed to JetStream" and "stored" (protocol
// "Durability": nothing leaves before it is stored).
import { rebuild } from '../rooms/stream-records.js';
import t from 'tap';
import { pino } from 'pino';
import { ManualClock } from '../lib/clock.js';
import { makeConfig } from '../lib/config.js';
import type { FromRoom, MemberRecord } from '../lib/ipc.js';
import { hashToken } from '../lib/tokens.js';
import { NOTHING_RESTORED } from '../rooms/journal.js';
import { MOVED, Room } from '../rooms/room.js';
import { JournalFenced, type ReplicatedJournal } from '../rooms/stream-journal.js';

type Obj = Record<string, unknown>;

interface Append {
  lines: Obj[];
  resolve: () => void;
  reject: (err: Error) => void;
  settled: boolean;
}

/** Appends wait until the test settles them; pendingLines counts what is unsettled, as the real journal does. */
class HandJournal implements ReplicatedJournal {
  appends: Append[] = [];
  closed = false;

  append(lines: readonly Buffer[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const a: Append = {
        lines: lines.map((l) => JSON.parse(l.toString()) as Obj),
        resolve: () => {
          a.settled = true;
          resolve();
        },
        reject: (err) => {
          a.settled = true;
          reject(err);
        },
        settled: false,
      };
      this.appends.push(a);
    });
  }

  get pendingLines(): number {
    return this.appends.filter((a) => !a.settled).reduce((n, a) => n + a.lines.length, 0);
  }

  /** The stream position of the last stored batch: one per settled append here. */
  get lastSeq(): number {
    return this.appends.filter((a) => a.settled).length;
  }

  compacted: number[] = [];
  async compact(upTo: number): Promise<void> {
    this.compacted.push(upTo);
  }

  close(): void {
    this.closed = true;
  }

  /** The only append not settled yet. */
  get open(): Append {
    const open = this.appends.filter((a) => !a.settled);
    if (open.length !== 1) throw new Error(`${open.length} appends are open`);
    return open[0]!;
  }
}

/** Lets the room's promise callbacks run (no time passes). */
const turn = () => new Promise<void>((r) => setImmediate(r));

function makeReplicatedRoom() {
  const config = makeConfig({ heartbeatMs: 1000, heartbeatMisses: 3, historySize: 8 });
  const clock = new ManualClock();
  const journal = new HandJournal();
  const sent: Array<{ to: string; objects: Obj[] }> = [];
  const notices: FromRoom[] = [];
  let pending: (() => void) | undefined;
  const room = new Room({
    name: 'first',
    config,
    clock,
    journal,
    log: pino({ level: 'silent' }),
    notify: (m) => notices.push(m),
    nonce: () => 'nonce-xxxxxxxxxxxxxxxx',
    schedule: (fn) => {
      pending = fn;
    },
    transport: {
      send: (datagram, port, address) => {
        sent.push({ to: `${address}:${port}`, objects: datagram.toString().split('\n').map((l) => JSON.parse(l) as Obj) });
      },
    },
  });
  room.restore(NOTHING_RESTORED, []);
  const flush = () => {
    const p = pending;
    pending = undefined;
    p?.();
  };
  const take = (n: number) => {
    flush();
    const out: Obj[] = [];
    for (let i = 0; i < sent.length; ) {
      if (sent[i]!.to === `127.0.0.1:${40000 + n}`) out.push(...sent.splice(i, 1)[0]!.objects);
      else i++;
    }
    return out;
  };
  const token = (n: number) => `token-${n}-xxxxxxxxxxxxxxxx`;
  const record = (n: number): MemberRecord => ({
    member: `m${n}`,
    nick: `nick${n}`,
    tokenHash: hashToken(token(n)),
    address: '127.0.0.1',
    port: 40000 + n,
  });
  const from = (n: number) => ({ address: '127.0.0.1', port: 40000 + n });
  const send = (n: number, o: Obj) => room.handleDatagram(Buffer.from(JSON.stringify({ token: token(n), ...o })), from(n));
  /** Adds member n (its join stored at once) and has it prove its address. */
  const join = async (n: number) => {
    const added = room.addMemberStored(record(n));
    journal.open.resolve();
    const r = await added;
    send(n, { type: 'hb' });
    take(n);
    return r;
  };
  const settle = () => {
    flush();
    sent.length = 0;
  };
  return { room, clock, journal, sent, notices, flush, take, record, send, join, settle };
}

t.test('a say\'s msg and its fan-out leave only once the journal has stored it', async (t) => {
  const f = makeReplicatedRoom();
  await f.join(1);
  await f.join(2);
  f.settle();
  f.send(1, { type: 'say', id: 'a', text: 'hello' });
  t.same(f.take(1), [], 'no ack before it is stored');
  t.same(f.take(2), [], 'no fan-out either');
  t.equal(f.journal.appends.length, 3);
  t.match(f.journal.open.lines, [{ type: 'msg', seq: 3, id: 'a', text: 'hello' }]);
  t.equal(f.journal.open.lines.length, 1);
  f.journal.open.resolve();
  await turn();
  const msg = { type: 'msg', room: 'first', seq: 3, member: 'm1', nick: 'nick1', text: 'hello', ts: f.clock.wall(), id: 'a' };
  t.strictSame(f.take(1), [msg], 'the sender\'s copy is its ack');
  t.strictSame(f.take(2), [msg]);
  t.equal(f.room.seq, 3);
});

t.test('a say retried while its batch is unstored is not sequenced again, and is answered once stored', async (t) => {
  const f = makeReplicatedRoom();
  await f.join(1);
  f.settle();
  f.send(1, { type: 'say', id: 'r', text: 'once' });
  f.flush();
  t.equal(f.journal.appends.length, 2);
  f.clock.advance(300);
  f.send(1, { type: 'say', id: 'r', text: 'once' });
  t.same(f.take(1), [], 'the retry gets nothing yet');
  t.equal(f.journal.appends.length, 2, 'and hands nothing to the journal');
  f.journal.open.resolve();
  await turn();
  const got = f.take(1);
  t.match(got, [{ type: 'msg', seq: 2, id: 'r' }], 'one msg for both tries');
  t.equal(got.length, 1);
  f.send(1, { type: 'say', id: 'r', text: 'once' });
  t.strictSame(f.take(1), got, 'a retry after it was stored gets the same msg again');
  t.equal(f.journal.appends.length, 2);
  t.equal(f.room.seq, 2);
});

t.test('a say whose append fails may be retried: its id is not held by the failed batch', async (t) => {
  const f = makeReplicatedRoom();
  await f.join(1);
  f.settle();
  f.send(1, { type: 'say', id: 'x', text: 'lost' });
  f.flush();
  f.journal.open.reject(new Error('the journal is closing'));
  await turn();
  t.same(f.take(1), [], 'nothing of an unstored batch leaves');
  f.send(1, { type: 'say', id: 'x', text: 'lost' });
  f.flush();
  t.match(f.journal.open.lines, [{ type: 'msg', id: 'x' }], 'sequenced afresh');
});

t.test('addMemberStored resolves, and the member is in, only once its batch is stored', async (t) => {
  const f = makeReplicatedRoom();
  let done = false;
  const added = f.room.addMemberStored(f.record(1)).then((r) => {
    done = true;
    return r;
  });
  await turn();
  t.equal(done, false);
  t.equal(f.room.roster.get('m1'), undefined, 'not in the roster while unstored');
  t.equal(f.room.roster.size, 0);
  t.equal(f.journal.appends.length, 1);
  t.strictSame(
    f.journal.open.lines,
    [
      { type: 'member', ...f.record(1) },
      { type: 'presence', room: 'first', seq: 1, event: 'join', member: 'm1', nick: 'nick1' },
    ],
    'the member record comes before its join, in the same batch',
  );
  f.journal.open.resolve();
  t.strictSame(await added, { seq: 1, members: 1 });
  t.ok(f.room.roster.get('m1'));
  t.equal(f.room.seq, 1);
});

t.test('when the journal is fenced the room says so and stops answering', async (t) => {
  const f = makeReplicatedRoom();
  await f.join(1);
  await f.join(2);
  f.settle();
  f.send(1, { type: 'say', id: 'f', text: 'too late' });
  f.flush();
  const adding = f.room.addMemberStored(f.record(3));
  t.equal(f.journal.pendingLines, 3, 'the say, and the member record with its join');
  f.journal.appends[2]!.reject(new JournalFenced());
  f.journal.appends[3]!.reject(new JournalFenced());
  // JournalFenced is a ChatError named so: the class tells it from other refusals.
  t.ok(await adding.then(() => false, (err: unknown) => err instanceof JournalFenced), 'the member being added is refused');
  await turn();
  t.strictSame(
    f.notices.filter((n) => n.type === 'fenced'),
    [{ type: 'fenced', seq: 2 }],
    'told once, with the last seq it stored',
  );
  t.equal(f.room.status, 'stopped');
  t.same(f.take(1), [], 'the unstored say never leaves');
  t.same(f.take(2), []);
  f.send(1, { type: 'hb' });
  f.send(2, { type: 'say', id: 'g', text: 'anyone?' });
  t.same(f.take(1), [], 'datagrams are not answered');
  t.same(f.take(2), []);
  t.equal(f.journal.appends.length, 4, 'nor sequenced');
  t.equal(f.room.roster.get('m3'), undefined);
});

t.test('later batches are sequenced above unstored ones, and hb reports only what is stored', async (t) => {
  const f = makeReplicatedRoom();
  await f.join(1);
  f.settle();
  const hb = () => {
    f.send(1, { type: 'hb' });
    return f.take(1).filter((o) => o['type'] === 'hb').map((o) => o['seq']);
  };
  f.send(1, { type: 'say', id: 'a', text: 'a' });
  f.flush();
  f.send(1, { type: 'say', id: 'b', text: 'b' });
  f.send(1, { type: 'say', id: 'c', text: 'c' });
  f.flush();
  t.equal(f.journal.appends.length, 3, 'one batch per turn');
  t.match(f.journal.appends[1]!.lines, [{ seq: 2, id: 'a' }]);
  t.match(f.journal.appends[2]!.lines, [
    { seq: 3, id: 'b' },
    { seq: 4, id: 'c' },
  ]);
  t.equal(f.journal.pendingLines, 3);
  t.strictSame(hb(), [1], 'nothing past the stored seq');
  f.journal.appends[1]!.resolve();
  await turn();
  const after = f.take(1);
  t.strictSame(after.map((o) => o['seq']), [2]);
  t.strictSame(hb(), [2]);
  f.journal.appends[2]!.resolve();
  await turn();
  t.strictSame(f.take(1).map((o) => o['seq']), [3, 4]);
  t.strictSame(hb(), [4]);
  t.equal(f.room.seq, 4);
  t.strictSame(
    f.room.history.get(2)?.toString(),
    JSON.stringify({ ...after[0] }),
    'stored events enter history',
  );
});

t.test('an address change goes to the journal as a moved record', async (t) => {
  const f = makeReplicatedRoom();
  await f.join(1);
  f.settle();
  const elsewhere = { address: '127.0.0.1', port: 40100 };
  const tok = 'token-1-xxxxxxxxxxxxxxxx';
  f.room.handleDatagram(Buffer.from(JSON.stringify({ type: 'hb', token: tok })), elsewhere);
  f.flush();
  f.room.handleDatagram(Buffer.from(JSON.stringify({ type: 'hb', token: tok, nonce: 'nonce-xxxxxxxxxxxxxxxx' })), elsewhere);
  f.flush();
  t.equal(f.journal.appends.length, 2);
  t.strictSame(f.journal.open.lines, [{ type: 'moved', member: 'm1', ...elsewhere }]);
});

t.test('close(moved) sends members no closed; close(shutdown) does', async (t) => {
  for (const [reason, want] of [
    [MOVED, []],
    ['shutdown', [{ type: 'closed', room: 'first', reason: 'shutdown' }]],
  ] as const) {
    const f = makeReplicatedRoom();
    await f.join(1);
    f.settle();
    f.room.close(reason);
    t.strictSame(f.take(1), want, reason);
    t.equal(f.journal.closed, true, `${reason}: the journal is closed`);
    t.equal(f.room.status, 'stopped');
  }
});

t.test('compaction: after twice its history of lines, the room appends a snapshot of what is stored and purges what it covers; a rebuild from what is left is the same room', async (t) => {
  const f = makeReplicatedRoom(); // historySize 8: a snapshot after 16 lines
  await f.join(1);
  await f.join(2);
  f.settle();
  const hasSnapshot = () => f.journal.appends.some((a) => a.lines.some((l) => l['type'] === 'snapshot'));
  const linesBefore = f.journal.appends.reduce((n, a) => n + a.lines.length, 0);
  for (let i = 1; i <= 30 && !hasSnapshot(); i++) {
    f.send(1, { type: 'say', id: `s${i}`, text: `hello ${i}` });
    f.flush();
    for (const a of f.journal.appends.filter((x) => !x.settled)) a.resolve();
    await turn();
  }
  t.ok(hasSnapshot(), 'a snapshot was begun');
  const upToLines = f.journal.appends.filter((a) => !a.lines.some((l) => l['type'] === 'snapshot' || l['type'] === 'snapshot-end')).reduce((n, a) => n + a.lines.length, 0);
  t.ok(upToLines - linesBefore >= 1 && upToLines >= 16, `after 16 lines or more (${upToLines})`);
  // Its chunks (and anything after) are stored.
  for (let i = 0; i < 5; i++) {
    for (const a of f.journal.appends.filter((x) => !x.settled)) a.resolve();
    await turn();
  }
  t.equal(f.journal.appends.filter((a) => a.lines.some((l) => l['type'] === 'snapshot')).length, 1, 'one snapshot');
  const lines = f.journal.appends.flatMap((a) => a.lines);
  const begin = lines.find((l) => l['type'] === 'snapshot')!;
  t.equal(begin['seq'], f.room.seq, 'the snapshot is of the stored seq');
  t.same((begin['members'] as Obj[]).map((m) => m['member']).sort(), ['m1', 'm2'], 'with the members');
  t.ok(lines.some((l) => l['type'] === 'snapshot-end' && l['id'] === begin['id']), 'and its end');
  t.same(f.journal.compacted, [begin['upTo']], 'what the snapshot covers is purged once it is stored');

  // What a node taking the room over would read after the purge: the batches after upTo.
  const upTo = begin['upTo'] as number;
  const batches = f.journal.appends.map((a, i) => ({ seq: i + 1, data: a.lines.map((l) => JSON.stringify(l) + '\n').join('') }));
  const full = rebuild(batches);
  const purged = rebuild(batches.filter((b) => b.seq > upTo));
  t.same(purged.members.map((m) => m.member).sort(), ['m1', 'm2'], 'members survive the purge');
  t.equal(purged.events.at(-1)?.seq, full.events.at(-1)?.seq, 'the seq survives the purge');
  t.same(
    purged.events.map((e) => e.seq),
    full.events.slice(-purged.events.length).map((e) => e.seq),
    'the history after the purge is the tail of the full one',
  );
  t.ok(purged.events.length >= 8, 'at least the held history is there');
  t.same(purged.base?.upTo, upTo, 'the rebuild started from the snapshot');
});
