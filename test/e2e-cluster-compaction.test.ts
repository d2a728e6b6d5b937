// A room's journal in cluster mode is compacted by the room (snapshots and
// purges), and a node taking the room over rebuilds it from what is left:
// one NATS server, two nodes, a small history so that a few hundred says
// make several snapshots; then the holding node is SIGKILLed and the room
// resumes on the other with the same members, tokens, seq and held history.
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { Chatter, chatUntil } from './helpers/cluster-chatter.js';
import { startCluster } from './helpers/cluster.js';
import { skipReason } from './helpers/nats.js';

const HISTORY = 16;
const SAYS = 150;

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('a compacted journal stays small, and a room taken over from it is whole', { timeout: 120_000 }, async (t) => {
    const cl = await startCluster(t, { nats: 1, nodes: 2, config: { historySize: HISTORY, sayRatePerSec: 1_000, sayBurst: 1_000 } });
    const control = [0, 1].map((i) => ({ host: cl.address(i), port: cl.nodes[i]!.port }));
    const ann = await Chatter.join(t, 'ann', 'lobby', control[0]!);
    const bob = await Chatter.join(t, 'bob', 'lobby', control[0]!);
    await chatUntil([ann, bob], () => control, `${SAYS} acks`, 60_000, () => ann.acked.size >= SAYS);
    const holder = cl.nodes[0]!;
    const compactions = holder.logs.filter((l) => l.event === 'journal_compacted');
    t.ok(compactions.length >= 3, `the room compacted its journal several times (${compactions.length})`);

    // What the stream holds for the room: about one snapshot and what followed it, not every say.
    const nc = await connect({ servers: cl.nats.urls });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const info = await jsm.streams.info(`${cl.clusterName}_rooms`, { subjects_filter: `${cl.clusterName}.room.lobby` });
    const held = info.state.subjects?.[`${cl.clusterName}.room.lobby`] ?? 0;
    t.ok(held > 0 && held < SAYS / 2, `the room's subject holds ${held} messages after ${SAYS} says`);

    // Take the room over from the compacted journal.
    ann.absorb();
    bob.absorb();
    const before = Math.max(ann.topAcked(), bob.topAcked());
    await cl.killNode(0);
    const n = ann.acked.size;
    await chatUntil([ann, bob], () => [control[1]!], 'an ack after the takeover', 30_000, () => ann.acked.size > n);
    t.ok(ann.moves >= 1, 'ann found the room with where');
    t.ok(cl.nodes[1]!.logs.some((l) => l.event === 'room_restored' && l['adopted'] === true), 'node 1 took the room over');
    const after = ann.topAcked();
    t.ok(after > before, `seq continues above ${before} (${after})`);
    // The held history came through the snapshot: the last HISTORY events before the kill are fetchable.
    const from = Math.max(1, before - HISTORY + 2);
    bob.send({ type: 'fetch', token: bob.token, from, to: before });
    await bob.c.next((o) => o['type'] === 'fetched', 10_000, 'fetched');
    bob.absorb();
    const missing: number[] = [];
    for (let s = from; s <= before; s++) if (!bob.seen.has(s)) missing.push(s);
    t.same(missing, [], `the held history ${from}..${before} is there after the takeover`);
    t.same([...ann.conflicts, ...bob.conflicts], [], 'no seq was given to two events');
  });
}
