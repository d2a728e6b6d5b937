// The durability contract end to end (protocol "Durability"): a room whose
// journal was deleted, cut, torn or reordered between a SIGKILL and its
// restart never hands out a seq twice, answers what it lost with `gap`, and
// keeps every line it can; the library client delivers the new messages
// after one gap. The room is SIGSTOPped while its files are changed, so it
// cannot write between the change and the kill.
import { readdirSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { waitGone } from './helpers/pids.js';
import { RawClient, type Membership } from './helpers/raw-client.js';

type Damage = (journal: string, mark: string) => void;

/** Says n messages and waits for each acknowledgement (the sender's own msg). */
async function sayAll(c: RawClient, m: Membership, ids: string[]): Promise<number[]> {
  const seqs: number[] = [];
  for (const id of ids) {
    c.send({ type: 'say', token: m.token, id, text: `text of ${id}` }, m.port);
    seqs.push((await c.next((o) => o['type'] === 'msg' && o['id'] === id, 10_000, `ack of ${id}`))['seq'] as number);
  }
  return seqs;
}

function roomFiles(d: Chatd, room: string): { journal: string; mark: string } {
  const dir = join(d.dir, 'data', 'rooms');
  const f = readdirSync(dir).find((n) => n.startsWith(`${room}~`) && n.endsWith('.jsonl'));
  if (!f) throw new Error(`no journal for ${room} in ${readdirSync(dir).join(', ')}`);
  return { journal: join(dir, f), mark: join(dir, f.replace(/\.jsonl$/, '.seq')) };
}

/** Stops the room, damages its files, kills it, and waits for the next incarnation's restore line. */
async function crashWith(d: Chatd, room: string, damage: Damage): Promise<Record<string, unknown>> {
  const pid = await d.roomPid(room);
  process.kill(pid, 'SIGSTOP');
  const f = roomFiles(d, room);
  damage(f.journal, f.mark);
  process.kill(pid, 'SIGKILL');
  if (!(await waitGone(pid))) throw new Error('room did not die');
  // room_started comes once the new incarnation has bound its port: datagrams sent after it are heard.
  await d.waitLog((l) => l.event === 'room_started' && l['room'] === room && (l['incarnation'] as number) >= 2, 30_000, 'room_started');
  return d.waitLog((l) => l.event === 'room_restored' && l['room'] === room && (l['incarnation'] as number) >= 2, 30_000, 'room_restored');
}

const lines = (path: string) => readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');

const CASES: Array<{ name: string; damage: Damage; basis: string; lostFrom: number; keep: number[] }> = [
  { name: 'journal deleted', damage: (j) => rmSync(j), basis: 'seq-mark', lostFrom: 1, keep: [] },
  {
    name: 'last two lines cut off',
    damage: (j) => writeFileSync(j, lines(j).slice(0, -2).map((l) => `${l}\n`).join('')),
    basis: 'seq-mark',
    lostFrom: 5,
    keep: [1, 2, 3, 4],
  },
  {
    name: 'last line torn',
    damage: (j) => truncateSync(j, readFileSync(j).length - 20),
    basis: 'seq-mark',
    lostFrom: 6,
    keep: [1, 2, 3, 4, 5],
  },
  {
    name: 'journal and seq mark both deleted',
    damage: (j, m) => {
      rmSync(j);
      rmSync(m);
    },
    basis: 'lease',
    lostFrom: 1,
    keep: [],
  },
];

for (const c of CASES) {
  t.test(`${c.name}: the restarted room continues above every seq it handed out`, async (t) => {
    const d = await startChatd(t);
    const a = await RawClient.open(t);
    const m = await a.join(d.port, 'durable', 'ann');
    const acked = await sayAll(a, m, ['s2', 's3', 's4', 's5', 's6']);
    t.same(acked, [2, 3, 4, 5, 6]);
    const restored = await crashWith(d, 'durable', c.damage);
    t.match(restored, { basis: c.basis, level: 'warn' }, 'one warning line says how the room recovered');
    const [next] = await sayAll(a, m, ['after']).catch((err: Error) => {
      throw new Error(`${err.message}\nroom log: ${JSON.stringify(d.logs.filter((l) => l['room'] === 'durable').slice(-8))}`);
    });
    t.ok(next! > 6, `the first new message took seq ${next}, above every acknowledged one`);
    // What is held is resent; what is lost is a gap, never a different event under an old seq.
    // A fetch answers at most 256 seqs: page through the whole range.
    for (let from = 1; from <= next!; from += 256) {
      a.send({ type: 'fetch', token: m.token, from, to: next! }, m.port);
      await a.next((o) => o['type'] === 'fetched' && o['from'] === from, 10_000, `fetched from ${from}`);
    }
    const answered = a.received.filter((o) => o['type'] === 'msg' || o['type'] === 'presence' || o['type'] === 'gap');
    const held = answered.filter((o) => o['type'] !== 'gap').map((o) => o['seq'] as number);
    t.same(held, [...c.keep, next], 'every line that survived is still fetchable');
    const gaps = answered.filter((o) => o['type'] === 'gap').map((o) => [o['from'] as number, o['to'] as number]);
    const merged = gaps.reduce<number[][]>((acc, [f, to]) => (acc.length > 0 && acc.at(-1)![1]! + 1 === f ? (acc.at(-1)![1] = to!, acc) : [...acc, [f!, to!]]), []);
    t.same(merged, [[c.lostFrom, next! - 1]], 'the lost part is one run of gap');
    for (const o of answered) {
      if (o['type'] === 'msg' && (o['seq'] as number) <= 6) t.equal(o['id'], `s${o['seq']}`, `seq ${o['seq']} is still its original message`);
    }
  });
}

t.test('a line out of order in the middle costs nothing of the history around it', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  const m = await a.join(d.port, 'shuffled', 'ann');
  await sayAll(a, m, ['s2', 's3', 's4', 's5']);
  const restored = await crashWith(d, 'shuffled', (j) => {
    const l = lines(j);
    writeFileSync(j, [l[0], l[3], l[1], l[2], 'garbage that is not JSON', l[4]].map((x) => `${x}\n`).join(''));
  });
  t.match(restored, { basis: 'journal', reordered: 2, skipped: 1, lost: 0 });
  const [next] = await sayAll(a, m, ['after']);
  t.equal(next, 6, 'nothing was lost: seq continues at once');
  a.send({ type: 'fetch', token: m.token, from: 1, to: 6 }, m.port);
  await a.next((o) => o['type'] === 'fetched', 10_000, 'fetched');
  t.same(
    a.received.filter((o) => o['type'] === 'msg' || o['type'] === 'presence' || o['type'] === 'gap').map((o) => o['type'] === 'gap' ? 'gap' : o['seq']),
    [1, 2, 3, 4, 5, 6],
    'all of it, in order',
  );
});

t.test('a library client carries on across a lost journal: one gap, then every new message', async (t) => {
  const d = await startChatd(t);
  const writer = await RawClient.open(t);
  const wm = await writer.join(d.port, 'follow', 'writer');
  const reader = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => reader.close({ leave: false }));
  await reader.join('follow', 'reader');
  const got: string[] = [];
  const gaps: Array<{ from: number; to: number }> = [];
  reader.on('message', (e: MsgEvent) => got.push(`${e.seq}:${e.text}`));
  reader.on('gap', (g) => gaps.push({ from: g.from, to: g.to }));
  const before = await sayAll(writer, wm, ['b1', 'b2', 'b3']);
  await new Promise<void>((resolve, reject) => {
    const until = setTimeout(() => reject(new Error(`reader got ${got.join(', ')}`)), 10_000);
    const check = () => got.length >= 3 && (clearTimeout(until), resolve());
    reader.on('message', check);
    check();
  });
  await crashWith(d, 'follow', (j, mk) => {
    rmSync(j);
    rmSync(mk);
  });
  const after = await sayAll(writer, wm, ['a1', 'a2', 'a3', 'a4', 'a5']);
  t.ok(after[0]! > before.at(-1)!, 'seqs go on above the lost ones');
  await new Promise<void>((resolve, reject) => {
    const until = setTimeout(() => reject(new Error(`reader got ${got.join(', ')}; gaps ${JSON.stringify(gaps)}`)), 20_000);
    const check = () => got.length >= 8 && (clearTimeout(until), resolve());
    reader.on('message', check);
    check();
  });
  t.same(got.slice(3).map((s) => s.split(':')[1]), ['text of a1', 'text of a2', 'text of a3', 'text of a4', 'text of a5'], 'the new messages, in order, none dropped');
  t.ok(gaps.length <= 1, `at most one gap reported (${JSON.stringify(gaps)})`);
});
