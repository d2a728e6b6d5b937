// Cluster mode end to end: three real NATS servers (JetStream, R3) and three
// real chatd nodes, each on its own loopback address (test/helpers/cluster.ts),
// clients speaking raw JSON over UDP (test/helpers/cluster-chatter.ts).
// - any node serves every room: join at one node into a room another node
//   holds, leave at a third, `rooms` anywhere, `where` with a wrong token;
// - SIGKILL of the node holding a room (its supervisor and its rooms) while
//   two members chat: the room resumes on another node, `where` finds it,
//   every acknowledged message is in the history exactly once, no seq was
//   given to two events (the union of everything both members saw and a
//   full fetch), and seq continues.
import t from 'tap';
import type { Chatd } from './helpers/chatd.js';
import { startCluster } from './helpers/cluster.js';
import { Chatter, chatUntil, checkHistory, type Endpoint } from './helpers/cluster-chatter.js';
import { skipReason } from './helpers/nats.js';
import { RawClient, type Obj } from './helpers/raw-client.js';

const LEASE_MS = 2_000;
/** The failover budget: the lease, then a few seconds (a loaded 2-core machine). */
const RESUME_BUDGET_MS = LEASE_MS + 8_000;

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('three nodes serve one room space; a killed node\'s room resumes elsewhere with nothing lost', { timeout: 120_000 }, async (t) => {
    const cl = await startCluster(t, { nats: 3, nodes: 3, config: { nodeLeaseMs: LEASE_MS } });
    const nodes = cl.nodes;
    const [a, b, c] = nodes as [Chatd, Chatd, Chatd];
    // Node i is alone on 127.0.0.(i+1); rooms live on their node's address.
    const [hostA, hostB, hostC] = [cl.address(0), cl.address(1), cl.address(2)];

    // ---- any node serves every room ----
    const ann = await RawClient.open(t);
    const bob = await RawClient.open(t);
    const cat = await RawClient.open(t);
    const jAnn = await ann.request({ type: 'join', id: 'j-ann', room: 'lobby', nick: 'ann' }, a.port, 15_000, hostA);
    t.equal(jAnn['type'], 'joined', 'the room is created at node a');
    t.equal(jAnn['host'], hostA, 'joined names the room host: node a');
    ann.send({ type: 'hb', token: jAnn['token'] }, jAnn['port'] as number, jAnn['host'] as string);
    await ann.next((o) => o['type'] === 'hb', 10_000, 'hb');
    await a.waitLog((l) => l.event === 'room_started' && l['room'] === 'lobby', 10_000, 'room on node a');

    const jBob = await bob.request({ type: 'join', id: 'j-bob', room: 'lobby', nick: 'bob' }, b.port, 15_000, hostB);
    t.equal(jBob['type'], 'joined', 'a join at node b into the room node a holds');
    t.equal(jBob['port'], jAnn['port'], 'the same room endpoint');
    t.equal(jBob['members'], 2);
    t.notOk(b.logs.some((l) => l.event === 'room_started'), 'node b started no room of its own');
    bob.send({ type: 'hb', token: jBob['token'] }, jBob['port'] as number, jBob['host'] as string);
    await bob.next((o) => o['type'] === 'hb', 10_000, 'hb');
    const again = await bob.request({ type: 'join', id: 'j-bob', room: 'lobby', nick: 'bob' }, b.port, 15_000, hostB);
    t.same(again, { ...jBob, fromPort: again.fromPort }, 'a retry at the same control endpoint gets the same joined');

    const jCat = await cat.request({ type: 'join', id: 'j-cat', room: 'lobby', nick: 'cat' }, c.port, 15_000, hostC);
    t.equal(jCat['type'], 'joined', 'a join at node c');
    const left = await cat.request({ type: 'leave', id: 'l-cat', room: 'lobby', token: jCat['token'] }, c.port, 15_000, hostC);
    t.same({ type: left['type'], id: left['id'] }, { type: 'left', id: 'l-cat' }, 'leave at node c of the room node a holds');

    // Counts of rooms on other nodes reach the directory within a second (protocol section 10).
    for (const [n, node] of nodes.entries()) {
      let r: Obj = {};
      for (let i = 0; i < 50; i++) {
        r = await cat.request({ type: 'rooms', id: `r-${node.port}-${i}`, pad: 'x'.repeat(100) }, node.port, 15_000, cl.address(n));
        if (JSON.stringify(r['rooms']) === JSON.stringify([{ room: 'lobby', members: 2 }])) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      t.same(r['rooms'], [{ room: 'lobby', members: 2 }], `rooms at ${cl.address(n)}:${node.port} lists the whole room space`);
    }
    const wrong = await cat.request({ type: 'where', id: 'w-wrong', room: 'lobby', token: 'x'.repeat(24) }, c.port, 15_000, hostC);
    t.equal(wrong['code'], 'NOT_MEMBER', 'where with a wrong token');
    const stolen = await cat.request({ type: 'where', id: 'w-stolen', room: 'lobby', token: jBob['token'] }, c.port, 15_000, hostC);
    t.equal(stolen['code'], 'NOT_MEMBER', "where with bob's token from another endpoint");
    const here = await bob.request({ type: 'where', id: 'w-bob', room: 'lobby', token: jBob['token'] }, c.port, 15_000, hostC);
    t.same({ type: here['type'], host: here['host'], port: here['port'] }, { type: 'here', host: hostA, port: jAnn['port'] }, 'where at node c');

    // ---- SIGKILL the node holding the room while two members chat ----
    const room = { host: hostA, port: jAnn['port'] as number };
    const chatters = [new Chatter(ann, 'ann', 'lobby', jAnn['token'] as string, room), new Chatter(bob, 'bob', 'lobby', jBob['token'] as string, room)];
    const alive: Endpoint[] = [
      { host: hostB, port: b.port },
      { host: hostC, port: c.port },
    ];
    await chatUntil(chatters, () => alive, '20 acks each before the kill', 20_000, () => chatters.every((x) => x.acked.size >= 20));
    const beforeKill = Math.max(...chatters.map((x) => x.topAcked()));
    const killedAt = Date.now();
    await cl.killNode(0);
    // Acks the dead node sent before it died are in; what comes after can only come from the new holder.
    await new Promise((r) => setTimeout(r, 50));
    for (const x of chatters) x.absorb();
    const counts = chatters.map((x) => x.acked.size);
    await chatUntil(chatters, () => alive, 'acks after the failover', RESUME_BUDGET_MS, () => chatters.every((x, i) => x.acked.size > counts[i]!));
    const resumeMs = Date.now() - killedAt;
    t.comment(`resumed ${resumeMs} ms after the kill`);
    t.ok(resumeMs < RESUME_BUDGET_MS, `chatting again within the lease plus a few seconds (${resumeMs} ms)`);
    await chatUntil(chatters, () => alive, '20 more acks each', 20_000, () => chatters.every((x, i) => x.acked.size >= counts[i]! + 20));
    t.ok(chatters.every((x) => x.moves >= 1), 'both members moved to the new endpoint after where');
    t.not(chatters[0]!.room.host, hostA, 'the room is on another node');
    t.ok(b.logs.some((l) => l.event === 'room_claimed') || c.logs.some((l) => l.event === 'room_claimed'), 'a live node claimed the room');

    // ---- nothing lost, nothing doubled ----
    const top = await checkHistory(t, chatters);
    t.ok(top > beforeKill, 'seq continues after the failover');
  });
}
