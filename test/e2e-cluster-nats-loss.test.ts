// Cluster mode losing a NATS server: three servers (JetStream, R3), two
// chatd nodes, two members chatting in one room. The server that leads the
// room stream is SIGKILLed mid-chat, then restarted. JetStream must elect a
// new leader and the room carry on: acks resume (the test reports how long
// after the kill), every acknowledged say is in the final history exactly
// once at the seq it was acknowledged with, no seq holds two events, no
// hole; and no chatd process crashed or gave up meanwhile.
import t from 'tap';
import { connect } from '@nats-io/transport-node';
import { jetstreamManager } from '@nats-io/jetstream';
import { startCluster } from './helpers/cluster.js';
import { Chatter, chatUntil, checkHistory, type Endpoint } from './helpers/cluster-chatter.js';
import { skipReason } from './helpers/nats.js';

/** A new say at most every 50 ms per member: within the say rate, and the whole run within the history a fetch can return. */
const SAY_EVERY_MS = 50;
/** Election of a new stream leader took 4-8 s on one machine (docs/cluster.md); a loaded 2-core box needs more. */
const RESUME_BUDGET_MS = 20_000;

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('the NATS server leading the room stream is killed mid-chat: chat goes on, nothing acknowledged is lost or doubled', { timeout: 60_000 }, async (t) => {
    const cl = await startCluster(t, { nats: 3, nodes: 2, replicas: 3 });
    const control: Endpoint[] = cl.nodes.map((n, i) => ({ host: cl.address(i), port: n.port }));
    const chatters = [await Chatter.join(t, 'ann', 'lobby', control[0]!, { sayEveryMs: SAY_EVERY_MS }), await Chatter.join(t, 'bob', 'lobby', control[1]!, { sayEveryMs: SAY_EVERY_MS })];
    const chat = (what: string, ms: number, done: () => boolean) => chatUntil(chatters, () => control, what, ms, done);
    /** Chats until p settles, so that members keep talking through a slow kill or restart. */
    const chatWhile = async <T>(what: string, ms: number, p: Promise<T>): Promise<T> => {
      let settled = false;
      const q = p.finally(() => (settled = true));
      await chat(what, ms, () => settled);
      return q;
    };
    await chat('15 acks each before the kill', 15_000, () => chatters.every((x) => x.acked.size >= 15));

    // The test's own NATS client reconnects fast and for ever: it may be on the server killed.
    const nc = await connect({ servers: cl.nats.urls, name: 'nats-loss test', reconnectTimeWait: 50, maxReconnectAttempts: -1, timeout: 5_000 });
    t.teardown(() => nc.close());
    const jsm = await jetstreamManager(nc);
    const stream = `${cl.clusterName}_rooms`;
    const leader = (await chatWhile('stream info', 10_000, jsm.streams.info(stream))).cluster?.leader;
    const victim = cl.nats.servers.find((s) => s.name === leader);
    if (!victim) throw new Error(`no server leads ${stream} (leader ${String(leader)})`);
    t.comment(`${stream} is led by ${victim.name}`);

    const beforeKill = Math.max(...chatters.map((x) => x.topAcked()));
    const killedAt = Date.now();
    await chatWhile(`SIGKILL of ${victim.name}`, 5_000, victim.kill('SIGKILL'));
    // Acks already on their way were sent by the old leader's doing; only later ones prove the new leader.
    for (const x of chatters) x.absorb();
    const counts = chatters.map((x) => x.acked.size);
    await chat('acks after the kill', RESUME_BUDGET_MS, () => chatters.every((x, i) => x.acked.size > counts[i]!));
    const resumeMs = Date.now() - killedAt;
    t.comment(`acks resumed ${resumeMs} ms after the kill of the stream leader`);
    t.pass(`chat went on after the kill (acks resumed after ${resumeMs} ms)`);

    await chatWhile(`restart of ${victim.name}`, 20_000, victim.restart());
    const after = chatters.map((x) => x.acked.size);
    await chat('15 more acks each after the restart', 15_000, () => chatters.every((x, i) => x.acked.size >= after[i]! + 15));
    const info = await chatWhile('stream info', 10_000, jsm.streams.info(stream));
    t.comment(`${stream} is now led by ${String(info.cluster?.leader)}; replicas ${JSON.stringify(info.cluster?.replicas?.map((r) => ({ name: r.name, current: r.current })))}`);

    // ---- nothing lost, nothing doubled ----
    const top = await checkHistory(t, chatters);
    t.ok(top > beforeKill, 'seq went on after the kill');
    t.comment(`members moved ${chatters.map((x) => x.moves).join('/')} times; node events: ${JSON.stringify(
      cl.nodes.map((n) => n.logs.filter((l) => ['room_claimed', 'room_lost', 'room_fenced', 'room_released', 'node_lease_failing'].includes(l.event ?? '')).map((l) => l.event)),
    )}`);
    const bad = cl.nodes.flatMap((n, i) => n.logs.filter((l) => l['level'] === 'fatal' || l.event === 'room_exit').map((l) => `node ${i}: ${JSON.stringify(l).slice(0, 300)}`));
    t.same(bad, [], 'no chatd process logged a fatal error or an unexpected exit');
  });
}
