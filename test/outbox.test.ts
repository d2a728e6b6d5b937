import { hashToken } from '../lib/tokens.js';
import t from 'tap';
import { encode } from '../lib/codec.js';
import { Member } from '../rooms/member.js';
import { Outbox, type BatchTransport, type Transport } from '../rooms/outbox.js';

const MAX = 1200;

interface Sent {
  bytes: Buffer;
  port: number;
  address: string;
}

/** A transport that records every datagram, joined as the socket would send it. */
class FakeTransport implements Transport {
  sent: Sent[] = [];
  batch: BatchTransport | undefined;
  log: string[] = [];
  send(datagram: Buffer, port: number, address: string): void {
    this.sent.push({ bytes: Buffer.from(datagram), port, address });
    this.log.push('send');
  }
  to(m: Member): Sent[] {
    return this.sent.filter((s) => s.port === m.port && s.address === m.address);
  }
}

/** A schedule function that queues the flush for the test to run, like one turn of the event loop. */
class ManualSchedule {
  calls = 0;
  private pending: Array<() => void> = [];
  readonly fn = (cb: () => void) => {
    this.calls++;
    this.pending.push(cb);
  };
  tick(): void {
    const p = this.pending;
    this.pending = [];
    for (const cb of p) cb();
  }
}

function member(n: number, address = '127.0.0.1'): Member {
  return new Member({ member: `m${n}`, nick: `nick${n}`, tokenHash: hashToken(`token-${n}-xxxxxxxxxxxxxxx`), address, port: 50000 + n, proven: true }, 0);
}

function msg(seq: number, text = 'hi'): Buffer {
  return encode({ type: 'msg', room: 'lobby', seq, member: 'm1', nick: 'ann', text, ts: 1_700_000_000_000, id: `s${seq}` });
}

function setup(maxQueueBytes = 1 << 20, beforeFlush?: () => void) {
  const transport = new FakeTransport();
  const schedule = new ManualSchedule();
  const outbox = new Outbox(transport, MAX, maxQueueBytes, beforeFlush, schedule.fn);
  return { transport, schedule, outbox };
}

/** The objects a member received, in order. */
function received(sent: Sent[]): string[] {
  return sent.flatMap((s) => s.bytes.toString().split('\n'));
}

t.test('a lone message is sent on the scheduled tick as one datagram', async (t) => {
  const { transport, schedule, outbox } = setup();
  const m = member(1);
  outbox.push(m, msg(1));
  t.equal(transport.sent.length, 0, 'nothing is sent inside push');
  t.equal(schedule.calls, 1, 'a flush is scheduled');
  schedule.tick();
  t.strictSame(transport.sent, [{ bytes: msg(1), port: 50001, address: '127.0.0.1' }]);
  t.strictSame(m.queue, [], 'the queue is empty after the flush');
  t.equal(m.eventBytes, 0);
});

t.test('many small events to one member are coalesced into datagrams within the limit, in push order', async (t) => {
  const { transport, schedule, outbox } = setup();
  const m = member(1);
  const events = Array.from({ length: 100 }, (_, i) => msg(i + 1, 'x'.repeat(i % 37)));
  for (const e of events) outbox.push(m, e);
  schedule.tick();
  const sizes = transport.sent.map((s) => s.bytes.length);
  for (const [i, n] of sizes.entries()) t.ok(n <= MAX, `datagram ${i} is ${n} bytes`);
  t.strictSame(received(transport.sent), events.map(String), 'every event once, in push order');
  const total = events.reduce((n, e) => n + e.length + 1, -1);
  t.ok(transport.sent.length < events.length / 5, `coalesced: ${transport.sent.length} datagrams for ${events.length} events`);
  t.ok(transport.sent.length >= Math.ceil(total / MAX), 'no fewer datagrams than the bytes need');
  for (let i = 1; i < transport.sent.length; i++) {
    const firstOfNext = transport.sent[i]!.bytes.toString().split('\n')[0]!;
    t.ok(sizes[i - 1]! + 1 + Buffer.byteLength(firstOfNext) > MAX, `datagram ${i - 1} was full`);
  }
});

t.test('each member gets its own datagrams with only its own events', async (t) => {
  const { transport, schedule, outbox } = setup();
  const a = member(1);
  const b = member(2);
  const c = member(3, '::1');
  outbox.push(a, msg(1));
  outbox.push(b, msg(2));
  outbox.push(a, msg(3));
  outbox.push(c, msg(4));
  schedule.tick();
  t.strictSame(received(transport.to(a)), [msg(1), msg(3)].map(String));
  t.strictSame(received(transport.to(b)), [msg(2)].map(String));
  t.strictSame(transport.to(c).map((s) => s.address), ['::1']);
  t.equal(transport.sent.length, 3, 'one datagram per member');
  t.strictSame(
    transport.sent.map((s) => s.port),
    [50001, 50002, 50003],
    'members are flushed in the order they first had something queued',
  );
});

t.test('the same object pushed to many members is sent to each', async (t) => {
  const { transport, schedule, outbox } = setup();
  const members = [1, 2, 3, 4].map((n) => member(n));
  const e = msg(1);
  for (const m of members) outbox.push(m, e);
  schedule.tick();
  t.strictSame(transport.sent.map((s) => [s.port, s.bytes.toString()]), members.map((m) => [m.port, e.toString()]));
});

t.test('beforeFlush runs before any datagram is sent', async (t) => {
  const transport = new FakeTransport();
  const schedule = new ManualSchedule();
  let journalWrites = 0;
  const outbox = new Outbox(transport, MAX, 1 << 20, () => {
    transport.log.push('journal');
    journalWrites++;
  }, schedule.fn);
  outbox.push(member(1), msg(1));
  outbox.push(member(2), msg(2));
  t.equal(journalWrites, 0, 'not during push');
  schedule.tick();
  t.strictSame(transport.log, ['journal', 'send', 'send']);
  t.equal(journalWrites, 1, 'once per flush');
});

t.test('the per-member queue bound drops the oldest queued objects and counts them', async (t) => {
  const ev = (i: number) => Buffer.from(`{"i":${i},"p":"${'x'.repeat(16)}"}`);
  t.equal(ev(0).length, 30);
  const { transport, schedule, outbox } = setup(100);
  const m = member(1);
  const other = member(2);
  for (let i = 0; i < 10; i++) outbox.push(m, ev(i));
  outbox.push(other, ev(99));
  t.equal(m.dropped, 7, '10 objects of 30 bytes, 100 bytes allowed: 3 kept');
  t.equal(m.eventBytes, 90);
  t.equal(other.dropped, 0, 'the bound is per member');
  schedule.tick();
  t.strictSame(received(transport.to(m)), [7, 8, 9].map((i) => ev(i).toString()), 'the newest are sent, in order');
  t.strictSame(received(transport.to(other)), [ev(99).toString()]);
  t.equal(m.dropped, 7, 'dropped is a running count, not reset by flush');
});

t.test('a queue of exactly the bound drops nothing', async (t) => {
  const { outbox } = setup(90);
  const m = member(1);
  for (let i = 0; i < 3; i++) outbox.push(m, Buffer.alloc(30, 0x61));
  t.equal(m.dropped, 0);
  t.equal(m.eventBytes, 90);
});

t.test('a single object larger than the bound is kept rather than dropped', async (t) => {
  const { transport, schedule, outbox } = setup(50);
  const m = member(1);
  outbox.push(m, Buffer.alloc(20, 0x61));
  outbox.push(m, Buffer.alloc(80, 0x62));
  t.equal(m.dropped, 1, 'the older small object goes');
  t.equal(m.queue.length, 1);
  schedule.tick();
  t.equal(transport.sent[0]?.bytes.toString(), 'b'.repeat(80));
});

t.test('only one flush is scheduled per turn', async (t) => {
  const { transport, schedule, outbox } = setup();
  const members = [0, 1, 2, 3].map((n) => member(n));
  for (let i = 0; i < 20; i++) outbox.push(members[i % 4]!, msg(i + 1));
  t.equal(schedule.calls, 1, 'twenty pushes in one turn schedule once');
  schedule.tick();
  t.equal(transport.sent.length, 4);
  outbox.push(members[1]!, msg(100));
  t.equal(schedule.calls, 2, 'the next turn schedules again');
  schedule.tick();
  t.equal(transport.sent.length, 5);
  schedule.tick();
  t.equal(transport.sent.length, 5, 'a tick with nothing scheduled sends nothing');
});

t.test('a member flushed in one turn is sent again in the next', async (t) => {
  const { transport, schedule, outbox } = setup();
  const m = member(1);
  outbox.push(m, msg(1));
  schedule.tick();
  outbox.push(m, msg(2));
  schedule.tick();
  t.strictSame(received(transport.to(m)), [msg(1), msg(2)].map(String));
  t.equal(transport.sent.length, 2, 'a datagram per turn');
});

t.test('by default the flush runs on setImmediate, at the end of the turn', async (t) => {
  const transport = new FakeTransport();
  const outbox = new Outbox(transport, MAX, 1 << 20);
  const m = member(1);
  outbox.push(m, msg(1));
  outbox.push(m, msg(2));
  t.equal(transport.sent.length, 0, 'not synchronously');
  await new Promise((resolve) => setImmediate(resolve));
  t.strictSame(received(transport.sent), [msg(1), msg(2)].map(String));
  t.equal(transport.sent.length, 1);
});

t.test(
  'a send that throws for one member does not strand the queues of the others',
  async (t) => {
    const schedule = new ManualSchedule();
    let fail = true;
    const sent: number[] = [];
    const transport: Transport = {
      send(_d, port) {
        if (fail) {
          fail = false;
          throw new Error('ERR_SOCKET_DGRAM_NOT_RUNNING');
        }
        sent.push(port);
      },
    };
    const outbox = new Outbox(transport, MAX, 1 << 20, () => {}, schedule.fn);
    const a = member(1);
    const b = member(2);
    outbox.push(a, msg(1));
    outbox.push(b, msg(1));
    t.doesNotThrow(() => schedule.tick(), 'a refused send does not escape the flush');
    t.same(sent, [b.port], 'b is still flushed in the same turn');
    t.equal(a.sendErrors, 1, 'the refused send is counted');
    outbox.push(b, msg(2));
    schedule.tick();
    t.same(sent, [b.port, b.port], 'and on the next turn');
  },
);

t.test('shared fan-out: one batch, packed once, the same buffers sent to every shared member', async (t) => {
  const seen: Array<{ buf: Buffer; port: number }> = [];
  const schedule = new ManualSchedule();
  const outbox = new Outbox({ send: (buf, port) => seen.push({ buf, port }) }, MAX, 1 << 20, () => {}, schedule.fn);
  const ms = [member(1), member(2), member(3)];
  for (let s = 1; s <= 20; s++) {
    outbox.share(msg(s));
    for (const m of ms) outbox.pushShared(m);
  }
  t.equal(schedule.calls, 1, 'one flush scheduled');
  schedule.tick();
  const per = (port: number) => seen.filter((x) => x.port === port).map((x) => x.buf);
  t.ok(per(50001).length >= 2, 'more than one datagram for 20 events');
  t.same(received(per(50001).map((bytes) => ({ bytes, port: 0, address: '' }))), Array.from({ length: 20 }, (_, i) => String(msg(i + 1))));
  for (let i = 0; i < per(50001).length; i++) {
    t.equal(per(50002)[i], per(50001)[i], `datagram ${i} is the same buffer for member 2`);
    t.equal(per(50003)[i], per(50001)[i], `datagram ${i} is the same buffer for member 3`);
  }
});

t.test('shared fan-out keeps each member\'s order when a reply, a late joiner or a leave splits the batch', async (t) => {
  const { transport, schedule, outbox } = setup();
  const [a, b, c] = [member(1), member(2), member(3)];
  const event = (s: number, who: Member[]) => {
    outbox.share(msg(s));
    for (const m of who) outbox.pushShared(m);
  };
  event(1, [a, b]);
  outbox.pushReply(a, Buffer.from('{"type":"hb","room":"lobby","seq":1}'));
  event(2, [a, b, c]); // c is proven from here on
  outbox.detach(b); // b leaves: it keeps what it was due, not what follows
  event(3, [a, c]);
  schedule.tick();
  t.same(received(transport.to(a)), [String(msg(1)), '{"type":"hb","room":"lobby","seq":1}', String(msg(2)), String(msg(3))], 'a: events and its reply in order');
  t.same(received(transport.to(b)), [String(msg(1)), String(msg(2))], 'b: nothing after it left');
  t.same(received(transport.to(c)), [String(msg(2)), String(msg(3))], 'c: from its first event on');
  event(4, [a, b, c]);
  schedule.tick();
  t.same(received(transport.to(b)).slice(2), [String(msg(4))], 'the next turn starts afresh');
});

t.test('a shared batch over the bound drops its oldest events for every member and counts them', async (t) => {
  const { transport, schedule, outbox } = setup(1_000);
  const [a, b] = [member(1), member(2)];
  const big = (s: number) => msg(s, 'x'.repeat(300));
  for (let s = 1; s <= 10; s++) {
    outbox.share(big(s));
    outbox.pushShared(a);
    outbox.pushShared(b);
  }
  schedule.tick();
  const got = received(transport.to(a)).map((l) => JSON.parse(l).seq as number);
  t.ok(got.length < 10 && got.length >= 1, `kept ${got.length}`);
  t.same(got, Array.from({ length: got.length }, (_, i) => 11 - got.length + i), 'the newest are kept, in order');
  t.equal(a.dropped, 10 - got.length);
  t.equal(b.dropped, 10 - got.length);
});

/**
 * A batch transport over FakeTransport: records what it "sends" into the same
 * list (so per-member order covers both paths), and sends at most `budget`
 * messages per call, as sendmmsg stops at a full socket buffer.
 */
class FakeBatch implements BatchTransport {
  calls = 0;
  budget = Infinity;
  isReady = true;
  constructor(private readonly t: FakeTransport) {}
  sockaddr(address: string, port: number): Buffer | undefined {
    return address.startsWith('bad') ? undefined : Buffer.from(JSON.stringify({ address, port }));
  }
  sendToAll(datagrams: readonly Buffer[], addrs: readonly Buffer[]): number {
    this.calls++;
    let sent = 0;
    for (const a of addrs) {
      const { address, port } = JSON.parse(a.toString()) as { address: string; port: number };
      for (const d of datagrams) {
        if (sent >= this.budget) return sent;
        this.t.sent.push({ bytes: Buffer.from(d), port, address });
        this.t.log.push('batch');
        sent++;
      }
    }
    return sent;
  }
  ready(): boolean {
    return this.isReady;
  }
}

function setupBatch() {
  const s = setup();
  const batch = new FakeBatch(s.transport);
  s.transport.batch = batch;
  return { ...s, batch };
}

t.test('shared events go to every member in one batch call, each member getting every datagram in order', async (t) => {
  const { transport, schedule, outbox, batch } = setupBatch();
  const ms = [1, 2, 3, 4].map((n) => member(n));
  const events = Array.from({ length: 12 }, (_, i) => msg(i + 1, 'y'.repeat(300)));
  for (const e of events) {
    outbox.share(e);
    for (const m of ms) outbox.pushShared(m);
  }
  schedule.tick();
  t.equal(batch.calls, 1, 'one batch for the turn');
  t.notOk(transport.log.includes('send'), 'nothing went one by one');
  for (const m of ms) t.strictSame(received(transport.to(m)), events.map((e) => e.toString()), `member ${m.member} got every event in order`);
});

t.test('what a batch could not send goes one by one, in order, and nothing is lost or repeated', async (t) => {
  for (const budget of [0, 1, 5, 7, 11]) {
    const { transport, schedule, outbox, batch } = setupBatch();
    batch.budget = budget;
    const ms = [1, 2, 3].map((n) => member(n));
    const events = Array.from({ length: 12 }, (_, i) => msg(i + 1, 'z'.repeat(300)));
    for (const e of events) {
      outbox.share(e);
      for (const m of ms) outbox.pushShared(m);
    }
    schedule.tick();
    const perMember = transport.to(ms[0]!).length;
    t.ok(perMember > 1, 'several datagrams per member');
    for (const m of ms) t.strictSame(received(transport.to(m)), events.map((e) => e.toString()), `budget ${budget}: ${m.member} got every event once, in order`);
    t.equal(transport.log.filter((l) => l === 'batch').length, Math.min(budget, perMember * ms.length), `budget ${budget}: the batch sent what it could`);
  }
});

t.test('no batch while one-by-one sends are still queued, for a member whose address does not parse, or for a lone member', async (t) => {
  const { transport, schedule, outbox, batch } = setupBatch();
  batch.isReady = false;
  const a = member(1);
  const b = member(2);
  outbox.share(msg(1));
  outbox.pushShared(a);
  outbox.pushShared(b);
  schedule.tick();
  t.equal(batch.calls, 0, 'the send queue is not empty: a batch would overtake it');
  t.equal(transport.to(a).length, 1);
  batch.isReady = true;
  const odd = member(3, 'bad-address');
  outbox.share(msg(2));
  for (const m of [a, b, odd]) outbox.pushShared(m);
  schedule.tick();
  t.equal(batch.calls, 1);
  t.strictSame(received(transport.to(odd)), [msg(2).toString()], 'the member without a sockaddr got it one by one');
  t.equal(odd.sockaddr, false, 'and is remembered as such');
  outbox.share(msg(3));
  outbox.pushShared(a);
  schedule.tick();
  t.equal(batch.calls, 1, 'a single member is not worth a batch');
  t.strictSame(received(transport.to(a)), [1, 2, 3].map((n) => msg(n).toString()));
});

t.test('the outbox counts deliveries, datagrams, bytes and drops on every path, as the transport saw them', async (t) => {
  for (const budget of [Infinity, 0, 5, 11]) {
    const { transport, schedule, outbox, batch } = setupBatch();
    batch.budget = budget;
    const ms = [1, 2, 3].map((n) => member(n));
    const events = Array.from({ length: 12 }, (_, i) => msg(i + 1, 'w'.repeat(300)));
    for (const e of events) {
      outbox.share(e);
      for (const m of ms) outbox.pushShared(m);
    }
    // One member off the shared path: a reply (not a delivery) and its own copy of the events.
    outbox.pushReply(ms[2]!, encode({ type: 'hb', room: 'lobby', seq: 12 }));
    schedule.tick();
    t.equal(outbox.deliveries, events.length * ms.length, `budget ${budget}: one delivery per event per member`);
    t.equal(outbox.datagrams, transport.sent.length, `budget ${budget}: every datagram counted once`);
    t.equal(outbox.bytes, transport.sent.reduce((n, s) => n + s.bytes.length, 0), `budget ${budget}: and its bytes`);
  }
  const { schedule, outbox } = setup(1_000);
  const [a, b] = [member(1), member(2)];
  for (let s = 1; s <= 10; s++) {
    outbox.share(msg(s, 'x'.repeat(300)));
    outbox.pushShared(a);
    outbox.pushShared(b);
  }
  schedule.tick();
  t.equal(outbox.queueDropped, a.dropped + b.dropped, 'queue drops are counted per member');
  t.equal(outbox.deliveries, 20 - outbox.queueDropped, 'and are not deliveries');
});
