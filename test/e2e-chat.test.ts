// End to end against the real chatd: real processes, real UDP sockets.
import { createSocket } from 'node:dgram';
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { isAlive, waitGone } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';

async function portIsFree(port: number): Promise<boolean> {
  const s = createSocket('udp4');
  return new Promise((resolve) => {
    s.once('error', () => resolve(false));
    s.bind(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

t.test('two clients in room first see each other\'s messages in order', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'first', 'alice');
  const mb = await b.join(d.port, 'first', 'bob');
  t.equal(mb.port, ma.port, 'one room, one port');
  await a.next((o) => o['type'] === 'presence' && o['event'] === 'join' && o['nick'] === 'bob');
  const N = 20;
  for (let i = 0; i < N; i++) {
    const [c, m] = i % 2 === 0 ? [a, ma] : [b, mb];
    c.send({ type: 'say', token: m.token, id: `m${i}`, text: `line ${i}` }, m.port);
    // wait for the sender's own echo (its ack) before the next line, so the order is defined
    await c.next((o) => o['type'] === 'msg' && o['id'] === `m${i}`);
  }
  for (const [c, name] of [[a, 'alice'], [b, 'bob']] as const) {
    const texts: unknown[] = [];
    const seqs: number[] = [];
    for (let i = 0; i < N; i++) {
      if (i % 2 === (name === 'alice' ? 0 : 1)) {
        texts.push(`line ${i}`);
        continue; // own messages were consumed as acks above
      }
      const o = await c.next((x) => x['type'] === 'msg');
      texts.push(o['text']);
      seqs.push(o['seq'] as number);
    }
    t.same(texts, Array.from({ length: N }, (_, i) => `line ${i}`), `${name} sees every line in order`);
    t.ok(seqs.every((s, i) => i === 0 || s > seqs[i - 1]!), `${name} sees increasing seqs`);
  }
});

t.test('a client in two rooms gets each room\'s messages only from that room', async (t) => {
  const d = await startChatd(t);
  const x = await RawClient.open(t);
  const y = await RawClient.open(t);
  const z = await RawClient.open(t);
  const x1 = await x.join(d.port, 'one', 'xavier');
  const x2 = await x.join(d.port, 'two', 'xavier');
  t.not(x1.port, x2.port, 'each room has its own port');
  const y1 = await y.join(d.port, 'one', 'yan');
  const z2 = await z.join(d.port, 'two', 'zoe');
  y.send({ type: 'say', token: y1.token, id: 'y', text: 'in one' }, y1.port);
  z.send({ type: 'say', token: z2.token, id: 'z', text: 'in two' }, z2.port);
  const fromOne = await x.next((o) => o['type'] === 'msg' && o['text'] === 'in one');
  const fromTwo = await x.next((o) => o['type'] === 'msg' && o['text'] === 'in two');
  t.equal(fromOne['room'], 'one');
  t.equal(fromOne['fromPort'], x1.port, 'room one traffic comes from room one\'s port');
  t.equal(fromTwo['room'], 'two');
  t.equal(fromTwo['fromPort'], x2.port);
  await z.next((o) => o['type'] === 'msg' && o['id'] === 'z');
  t.notOk(z.received.some((o) => o['type'] === 'msg' && o['room'] === 'one'), 'a member of two only never sees room one traffic');
});

t.test('the first join forks a room process and the last leave ends it', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'life', 'ann');
  const started = await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'life');
  const pid = started['roomPid'] as number;
  t.ok(isAlive(pid), 'room process exists');
  t.not(pid, d.pid, 'it is a separate process');
  const mb = await b.join(d.port, 'life', 'ben');
  t.equal(d.logs.filter((l) => l.event === 'room_started').length, 1, 'the second join does not fork again');
  const leftA = await a.request({ type: 'leave', id: 'la', room: 'life', token: ma.token }, d.port);
  t.same(leftA, { type: 'left', id: 'la', room: 'life', fromPort: d.port }, 'control leave answers left');
  t.ok(isAlive(pid), 'room lives while a member remains');
  const leftB = await b.request({ type: 'leave', id: 'lb', token: mb.token }, mb.port);
  t.equal(leftB['type'], 'left', 'room-endpoint leave answers left');
  t.equal(leftB['fromPort'], mb.port, 'from the room endpoint');
  t.ok(await waitGone(pid), 'room process exits after the last leave');
  await d.waitLog((l) => l.event === 'room_stopped' && l['room'] === 'life');
  t.ok(await portIsFree(mb.port), 'room port is released');
  const again = await b.request({ type: 'leave', id: 'lb', room: 'life', token: mb.token }, d.port);
  t.same(again, { type: 'left', id: 'lb', room: 'life', fromPort: d.port }, 'a lost left is replayed by the control endpoint');
  const rooms = await a.request({ type: 'rooms', id: 'r', pad: 'x'.repeat(100) }, d.port);
  t.same(rooms['rooms'], [], 'the room is gone from the list');
});

t.test('raw JSON datagrams as typed into nc -u work without the client library', async (t) => {
  const d = await startChatd(t);
  const c = await RawClient.open(t);
  c.send('{"type":"ping","id":"p1"}\n', d.port);
  t.match(await c.next((o) => o['id'] === 'p1'), { type: 'pong', id: 'p1' });
  c.send('  {"type":"join","id":"j","room":"nc","nick":"netcat"}  \n', d.port);
  const j = await c.next((o) => o['id'] === 'j');
  t.match(j, { type: 'joined', room: 'nc', nick: 'netcat', members: 1, seq: 1, heartbeatMs: 5000 });
  t.ok(Buffer.byteLength(JSON.stringify(j)) <= 512, 'joined fits in 512 bytes');
  c.send(`{"type":"hb","token":"${j['token'] as string}"}\n`, j['port'] as number);
  t.match(await c.next((o) => o['type'] === 'hb'), { type: 'hb', room: 'nc', seq: 1 });
  c.send(`{"type":"say","token":"${j['token'] as string}","id":"s1","text":"hi from nc"}\n`, j['port'] as number);
  t.match(await c.next((o) => o['type'] === 'msg'), { type: 'msg', room: 'nc', seq: 2, nick: 'netcat', text: 'hi from nc', id: 's1' });
  const again = await c.request({ type: 'join', id: 'j', room: 'nc', nick: 'netcat' }, d.port);
  const { fromPort: _a, ...first } = j;
  const { fromPort: _b, ...second } = again;
  t.same(second, first, 'a retried join gets the same reply, all fields equal');
  const dup = await c.request({ type: 'join', id: 'j2', room: 'nc', nick: 'other' }, d.port);
  t.match(dup, { type: 'error', code: 'ALREADY_JOINED', id: 'j2' });
});

t.test('join refusals follow the contract', async (t) => {
  const d = await startChatd(t, { maxMembersPerRoom: 2 });
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const c = await RawClient.open(t);
  t.match(await a.request({ type: 'join', id: '1', room: 'priv', nick: 'Ann', key: 'sesame' }, d.port), { type: 'joined' });
  t.match(await b.request({ type: 'join', id: '1', room: 'priv', nick: 'bob' }, d.port), { code: 'BAD_KEY' }, 'no key for a keyed room');
  t.match(await b.request({ type: 'join', id: '2', room: 'priv', nick: 'bob', key: 'wrong' }, d.port), { code: 'BAD_KEY' });
  t.match(await b.request({ type: 'join', id: '3', room: 'priv', nick: 'ANN', key: 'sesame' }, d.port), { code: 'NICK_TAKEN' }, 'nicks compare case-insensitively');
  t.match(await b.request({ type: 'join', id: '4', room: 'priv', nick: 'bob', key: 'sesame' }, d.port), { type: 'joined' });
  t.match(await c.request({ type: 'join', id: '1', room: 'priv', nick: 'cy', key: 'sesame' }, d.port), { code: 'ROOM_FULL' });
  t.match(await c.request({ type: 'join', id: '2', room: 'pub', nick: 'cy' }, d.port), { type: 'joined' });
  t.match(await a.request({ type: 'join', id: '5', room: 'pub', nick: 'ann', key: 'k' }, d.port), { code: 'BAD_KEY' }, 'a key for a keyless room is refused');
  t.match(await a.request({ type: 'join', id: '6', room: 'bad room', nick: 'ann' }, d.port), { code: 'BAD_ROOM_NAME' });
  t.match(await a.request({ type: 'join', id: '7', room: 'ok', nick: 'a\u202eb' }, d.port), { code: 'BAD_NICK' }, 'bidi override refused');
  t.match(await a.request({ type: 'join', id: '8', room: 'bad room', nick: 'a b' }, d.port), { code: 'BAD_ROOM_NAME' }, 'room name is checked before nick');
  const page = await a.request({ type: 'rooms', id: 'r', pad: 'x'.repeat(200) }, d.port);
  t.same(page['rooms'], [{ room: 'priv', members: 2 }, { room: 'pub', members: 1 }]);
  t.equal(page['more'], false);
  const tiny = await a.request({ type: 'rooms', id: 'r2' }, d.port);
  t.ok(Buffer.byteLength(JSON.stringify({ ...tiny, fromPort: undefined })) <= 3 * Buffer.byteLength('{"type":"rooms","id":"r2"}'), 'unpadded page stays within 3x');
  t.equal(tiny['more'], true, 'and says more follow');
  t.same(tiny['rooms'], [{ room: 'priv', members: 2 }], 'the page holds what fits');
  await c.request({ type: 'join', id: '3', room: 'a-rather-long-room-name', nick: 'cy' }, d.port);
  const next = await a.request({ type: 'rooms', id: 'r3' }, d.port); // the first room's entry no longer fits 3x
  t.match(next, { type: 'error', code: 'BAD_REQUEST', id: 'r3' }, 'when nothing fits the budget, the client is told to pad');
});

t.test('with a room port range, the listening line names it and rooms bind inside it', async (t) => {
  // A range chosen free on this machine: find two free ports next to each other, bounded tries.
  let lo = 0;
  for (let i = 0; i < 50 && lo === 0; i++) {
    const p = 42_000 + Math.floor(Math.random() * 20_000);
    if ((await portIsFree(p)) && (await portIsFree(p + 1))) lo = p;
  }
  if (lo === 0) return t.fail('no two free adjacent ports found in 50 tries');
  const d = await startChatd(t, { roomPortMin: lo, roomPortMax: lo + 1 });
  const listening = await d.waitLog((l) => l.event === 'listening');
  t.equal(listening['roomPorts'], `${lo}-${lo + 1}`, 'the operator sees the range to open');
  const a = await RawClient.open(t);
  const m1 = await a.join(d.port, 'first', 'ann');
  const m2 = await a.join(d.port, 'second', 'ann');
  t.same([m1.port, m2.port].sort(), [lo, lo + 1], 'both rooms inside the range');
  const third = await a.request({ type: 'join', id: 'full', room: 'third', nick: 'ann' }, d.port);
  t.match(third, { type: 'error', code: 'ROOM_UNAVAILABLE' }, 'a full range refuses the join');
});
