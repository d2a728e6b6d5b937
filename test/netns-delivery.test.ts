// Delivery across real network paths: chatd in one network namespace, two
// clients in two others (test/helpers/netns.ts), UDP loss made by nftables
// in the server's namespace. The guarantee under test: a say acknowledged to
// its sender is delivered to every member that stays in the room, exactly
// once and in room (seq) order — at 0 %, 5 % and 20 % loss, and on a slow,
// queueing link (tc tbf). Skipped, with the reason, where namespaces cannot
// be made (not root, no iproute2/nftables, a container without the rights).
import t from 'tap';
import { analyse, type Figures } from './helpers/delivery-check.js';
import { canRun, createTopology, startChatter, type RateLimit, type Topology, type ChatdInNs } from './helpers/netns.js';

const SENDS = 60; // per client and case
const RATE_MS = 60; // under the room's default say limit (20/s per member)
const CASE_DURATION_MS = 60_000; // the fixtures' own bound
const HEARTBEAT_MS = 1_000;
// 5, not 3: at this scaled-down heartbeat a join whose replies are lost several times in a row
// can outlast a 3 s window (docs/network-tests.md); heartbeats are netns-liveness's subject.
const MISSES = 5;
// The client's retry timings scaled like the heartbeat (5 s -> 1 s): 250 ms -> 50 ms.
const RETRY_MS = 50;

interface Case {
  name: string;
  room: string;
  lossPercent: number;
  rateLimit?: RateLimit;
}

const CASES: Case[] = [
  { name: '0 % loss', room: 'loss0', lossPercent: 0 },
  { name: '5 % loss', room: 'loss5', lossPercent: 5 },
  { name: '20 % loss', room: 'loss20', lossPercent: 20 },
  { name: '5 % loss, server link 64 kbit/s tbf', room: 'slow', lossPercent: 5, rateLimit: { rateKbit: 64, burstBytes: 2048, latencyMs: 400 } },
];

/** The assertions runCase uses (a tap Test). */
interface Asserts {
  comment(msg: string): void;
  ok(v: unknown, msg: string): boolean;
  same(found: unknown, wanted: unknown, msg: string): boolean;
  equal(found: unknown, wanted: unknown, msg: string): boolean;
}

async function runCase(t: Asserts, topo: Topology, d: ChatdInNs, c: Case): Promise<Figures> {
  topo.setLoss(topo.server.ns, c.lossPercent);
  topo.setRateLimit(topo.server.ns, topo.server.iface, c.rateLimit);
  const common = { server: { host: d.host, port: d.port }, room: c.room, send: SENDS, rateMs: RATE_MS, durationMs: CASE_DURATION_MS, maxAttempts: 20, retryMs: RETRY_MS, waitGo: true };
  const started = Date.now();
  // Both join at once (the supervisor orders joins to one room); nobody speaks before both are in.
  const alice = startChatter(topo, topo.a, { ...common, nick: 'alice', peers: ['bob'] });
  const bob = startChatter(topo, topo.b, { ...common, nick: 'bob', peers: ['alice'] });
  await Promise.all([alice.joined(), bob.joined()]);
  alice.go();
  bob.go();
  const results = await Promise.all([alice.result(CASE_DURATION_MS + 15_000), bob.result(CASE_DURATION_MS + 15_000)]);
  const elapsedMs = Date.now() - started;
  const { figures: f, problems } = analyse(results);
  if (c.rateLimit) {
    const q = topo.qdiscStats(topo.server.ns, topo.server.iface);
    if (q) {
      t.comment(
        `${c.name}: tbf ${c.rateLimit.rateKbit} kbit/s sent ${q.sentPackets} datagrams (${q.sentBytes} bytes), ` +
          `held back over the rate ${q.overlimits} times, dropped ${q.dropped} (queue over ${c.rateLimit.latencyMs ?? 400} ms)`,
      );
    }
  }
  const pct = f.expected === 0 ? 0 : (100 * f.delivered) / f.expected;
  t.comment(
    `${c.name}: delivered ${f.delivered}/${f.expected} (${pct.toFixed(1)} %), duplicates ${f.duplicates}, out-of-order ${f.outOfOrder}, ` +
      `gaps ${f.gaps}, max delivery delay ${f.maxDelayMs} ms (median ${f.p50DelayMs} ms), slowest ack ${f.maxAckMs} ms, ` +
      `failed says ${f.failedSays}, lost memberships ${f.lost}, run ${(elapsedMs / 1000).toFixed(1)} s`,
  );
  t.ok(f.expected >= 2 * 2 * (SENDS + 1), `every say acknowledged is owed to both members (${f.expected})`);
  t.same(problems, [], 'acknowledged says reach every member exactly once, in seq order, with no gap or eviction');
  t.equal(f.delivered, f.expected, 'delivered 100 %');
  t.equal(f.duplicates, 0, 'no duplicates');
  t.equal(f.outOfOrder, 0, 'nothing out of order');
  const exits = await Promise.all([alice.exited, bob.exited]);
  t.same(exits.map((e) => e.code), [0, 0], 'both clients left and exited 0');
  return f;
}

const can = canRun();
if (!can.ok) {
  t.plan(0, `network namespace tests skipped: ${can.reason}`);
} else {
  t.test('acknowledged says reach every member exactly once and in order across namespaces', async (t) => {
    const topo = createTopology(t);
    t.comment(`topology ${topo.prefix}: server ${topo.server.address} (${topo.server.ns}), clients ${topo.a.address} (${topo.a.ns}), ${topo.b.address} (${topo.b.ns}), bridge in ${topo.switchNs}`);
    const d = await topo.startChatd({ heartbeatMs: HEARTBEAT_MS, heartbeatMisses: MISSES });
    const rows: string[] = [];
    for (const c of CASES) {
      await t.test(c.name, async (t) => {
        const f = await runCase(t, topo, d, c);
        rows.push(
          `| ${c.name} | ${((100 * f.delivered) / Math.max(1, f.expected)).toFixed(1)} % of ${f.expected} | ${f.duplicates} | ${f.outOfOrder} | ${f.maxDelayMs} ms | ${f.lost} |`,
        );
      });
    }
    topo.setLoss(topo.server.ns, 0);
    topo.setRateLimit(topo.server.ns, topo.server.iface, undefined);
    const evicted = d.logs.filter((l) => l.event === 'member_evicted' && l['component'] === 'supervisor');
    t.equal(evicted.length, 0, 'no member was evicted in any case');
    t.comment('| case | delivered | duplicates | out-of-order | max delivery delay | lost memberships |');
    t.comment('| --- | --- | --- | --- | --- | --- |');
    for (const r of rows) t.comment(r);
  });
}
