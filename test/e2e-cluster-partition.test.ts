// Cluster mode with a node paused past its lease, then continued (a hung
// machine, a long GC pause, a VM frozen): one NATS server, three chatd
// nodes, two members chatting in a room node 0 holds. Node 0's whole
// process tree is SIGSTOPped; its lease lapses, another node takes the room
// over and the members follow it there (`where`); after ~2 s more of chat
// node 0 is continued. Node 0 must then give the room up (its journal
// appends are refused, or it sees the directory moved on) and acknowledge
// nothing more for it — a say sent straight to its old endpoint gets no
// `msg` — while the same member's says at the new endpoint are answered;
// and over everything both members saw plus a full fetch, no seq holds two
// events, there is no hole, and every acknowledged say is there once at
// its seq.
import t from 'tap';
import { startCluster } from './helpers/cluster.js';
import { Chatter, chatUntil, checkHistory, endpointKey, type Endpoint } from './helpers/cluster-chatter.js';
import { skipReason } from './helpers/nats.js';

const LEASE_MS = 2_000;
/** The failover budget: the lease, then a few seconds (a loaded 2-core machine). */
const RESUME_BUDGET_MS = LEASE_MS + 8_000;
const SAY_EVERY_MS = 50;
/** How long chat goes on at the new endpoint while node 0 is still stopped. */
const CHAT_WHILE_STOPPED_MS = 2_000;
/** How long a say sent to the old endpoint must stay unanswered. */
const OLD_ENDPOINT_SILENT_MS = 3_000;
const GAVE_UP = new Set(['room_fenced', 'room_lost', 'room_released']);

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('a node paused past its lease loses its room and, continued, acknowledges nothing more for it', { timeout: 60_000 }, async (t) => {
    const cl = await startCluster(t, { nats: 1, nodes: 3, config: { nodeLeaseMs: LEASE_MS } });
    const control: Endpoint[] = cl.nodes.map((n, i) => ({ host: cl.address(i), port: n.port }));
    // The room is made at node 0; bob joins through node 1, which forwards.
    const ann = await Chatter.join(t, 'ann', 'lobby', control[0]!, { sayEveryMs: SAY_EVERY_MS });
    const bob = await Chatter.join(t, 'bob', 'lobby', control[1]!, { sayEveryMs: SAY_EVERY_MS });
    const chatters = [ann, bob];
    t.equal(ann.room.host, cl.address(0), 'node 0 holds the room');
    t.same(bob.room, ann.room, 'both members at one endpoint');
    const old = { ...ann.room };
    const oldKey = endpointKey(old);
    // While node 0 is stopped, `where` goes to the live nodes only.
    let live = control;
    const chat = (what: string, ms: number, done: () => boolean) => chatUntil(chatters, () => live, what, ms, done);
    const chatWhile = async <T>(what: string, ms: number, p: Promise<T>): Promise<T> => {
      let settled = false;
      const q = p.finally(() => (settled = true));
      await chat(what, ms, () => settled);
      return q;
    };
    await chat('10 acks each at node 0', 15_000, () => chatters.every((x) => x.acked.size >= 10));

    // ---- node 0 hangs past its lease ----
    live = control.slice(1);
    const stoppedAt = Date.now();
    await cl.stopNode(0);
    // Queued in node 0's room socket, read when it continues: must get no msg either.
    ann.c.send({ type: 'say', token: ann.token, id: 'ann-old-queued', text: 'sent to node 0 while it was stopped' }, old.port, old.host);
    for (const x of chatters) x.absorb();
    const counts = chatters.map((x) => x.acked.size);
    await chat('both members acknowledged at a new endpoint', RESUME_BUDGET_MS, () =>
      chatters.every((x, i) => x.room.host !== cl.address(0) && x.acked.size > counts[i]!),
    );
    const movedMs = Date.now() - stoppedAt;
    t.comment(`the room answered at ${endpointKey(ann.room)} ${movedMs} ms after node 0 was stopped`);
    t.ok(chatters.every((x) => x.moves >= 1 && x.room.host !== cl.address(0)), `both members moved (where) to another node: ${endpointKey(ann.room)}`);
    t.same(bob.room, ann.room, 'both at the same new endpoint');
    const taker = cl.nodes.findIndex((n) => n.logs.some((l) => l.event === 'room_claimed' && l['room'] === 'lobby'));
    t.ok(taker > 0, `node ${taker} claimed the room`);
    t.equal(ann.room.host, cl.address(taker), 'the new endpoint is on the node that claimed it');
    const moved = chatters.map((x) => x.acked.size);
    await chat(`${CHAT_WHILE_STOPPED_MS} ms of chat at the new endpoint`, CHAT_WHILE_STOPPED_MS + 10_000, () => Date.now() - stoppedAt >= movedMs + CHAT_WHILE_STOPPED_MS);
    t.ok(chatters.every((x, i) => x.acked.size > moved[i]!), 'chat went on at the new endpoint');

    // ---- node 0 continues ----
    const contAt = Date.now();
    await cl.contNode(0);
    live = control;
    const gaveUp = await chatWhile(
      'node 0 gives the room up',
      15_000,
      cl.nodes[0]!.waitLog((l) => GAVE_UP.has(l.event ?? '') && l['room'] === 'lobby', 15_000, 'room_fenced, room_lost or room_released for lobby'),
    );
    t.comment(`node 0 logged ${gaveUp.event} ${Date.now() - contAt} ms after it continued`);
    t.pass(`node 0 gave the room up after it continued (${gaveUp.event})`);
    const where = await ann.c.request({ type: 'where', id: 'w-ann-node0', room: 'lobby', token: ann.token }, control[0]!.port, 10_000, control[0]!.host);
    t.same({ type: where['type'], host: where['host'], port: where['port'] }, { type: 'here', ...ann.room }, "node 0's where names the new endpoint");

    // A fresh say straight to the old endpoint, while the same member chats at the new one.
    const sentOldAt = Date.now();
    ann.c.send({ type: 'say', token: ann.token, id: 'ann-old-after', text: 'sent to node 0 after it continued' }, old.port, old.host);
    const before = ann.acked.size;
    await chat(`${OLD_ENDPOINT_SILENT_MS} ms after a say to the old endpoint`, OLD_ENDPOINT_SILENT_MS + 10_000, () => Date.now() - sentOldAt >= OLD_ENDPOINT_SILENT_MS);
    t.ok(ann.acked.size > before, `meanwhile ann's says at the new endpoint were acknowledged (${ann.acked.size - before})`);
    const fromOld = (since: number) => chatters.flatMap((x) => x.heard.filter((h) => h.from === oldKey && h.at >= since && h.o['type'] === 'msg').map((h) => `${x.name}: ${JSON.stringify(h.o)}`));
    t.same(fromOld(sentOldAt), [], `no msg came from the old endpoint ${oldKey} in the ${OLD_ENDPOINT_SILENT_MS} ms after the say sent there`);
    t.comment(`msgs from the old endpoint after node 0 continued: ${fromOld(contAt).length}`);
    const stray = chatters.flatMap((x) => [...x.seen.values()].filter((k) => k.includes(':ann-old-')));
    t.same(stray, [], 'neither say sent to the old endpoint was sequenced anywhere');

    const seen0 = cl.nodes[0]!.logs.filter((l) => l['room'] === 'lobby' && (GAVE_UP.has(l.event ?? '') || /^journal_|^room_/.test(l.event ?? ''))).map((l) => l.event);
    t.comment(`node 0's room events: ${seen0.join(', ')}`);

    // ---- nothing lost, nothing doubled ----
    await checkHistory(t, chatters);
    const bad = cl.nodes.flatMap((n, i) => n.logs.filter((l) => l['level'] === 'fatal').map((l) => `node ${i}: ${JSON.stringify(l).slice(0, 300)}`));
    t.same(bad, [], 'no chatd process logged a fatal error');
  });
}
