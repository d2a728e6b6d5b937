// The admin listener in cluster mode: two real chatd nodes on one real
// NATS server. /status names the node and lists the cluster's nodes (each
// node's own marked self) and its rooms; /readyz turns 503 while NATS is
// away and 200 once it is back.
import t from 'tap';
import type { AdminStatus } from '../lib/admin-status.js';
import { adminAddress, get, getJson, until } from './helpers/admin.js';
import { startCluster } from './helpers/cluster.js';
import { skipReason } from './helpers/nats.js';
import { RawClient } from './helpers/raw-client.js';

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('/status lists the cluster\'s nodes and rooms; /readyz follows the NATS connection', { timeout: 90_000 }, async (t) => {
    const cl = await startCluster(t, { nats: 1, nodes: 2, config: { nodeLeaseMs: 1_000, statsIntervalMs: 100 } });
    const [a, b] = cl.nodes.map((n) => adminAddress(n.logs)!) as [string, string];
    t.match(a, new RegExp(`^${cl.address(0).replaceAll('.', '\\.')}:\\d+$`), 'node 1\'s admin listener is on its own address');

    const ann = await RawClient.open(t);
    const j = await ann.request({ type: 'join', id: 'j1', room: 'lobby', nick: 'ann' }, cl.nodes[0]!.port, 15_000, cl.address(0));
    t.equal(j['type'], 'joined');
    const s = await until(async () => {
      const st = await getJson<AdminStatus>(a, '/status');
      return st.cluster?.nodes.length === 2 && st.cluster.rooms === 1 ? st : undefined;
    }, 20_000, 'node 1 to see both nodes and the room');
    t.equal(s.node, 'node-1');
    t.same(
      s.cluster!.nodes,
      [
        { node: 'node-1', host: cl.address(0), port: cl.nodes[0]!.port, self: true },
        { node: 'node-2', host: cl.address(1), port: cl.nodes[1]!.port, self: false },
      ],
      'both nodes, this one marked self',
    );
    t.match(s.rooms, [{ room: 'lobby', members: 1 }], 'its own rooms in rooms');
    const sb = await until(async () => {
      const st = await getJson<AdminStatus>(b, '/status');
      return st.cluster?.nodes.length === 2 && st.cluster.rooms === 1 ? st : undefined;
    }, 20_000, 'node 2 to see both nodes and the room');
    t.same(sb.cluster!.nodes.map((n) => [n.node, n.self]), [['node-1', false], ['node-2', true]]);
    t.same(sb.rooms, [], 'node 2 holds no room');

    t.equal((await get(a, '/readyz')).status, 200);
    await cl.nats.servers[0]!.kill();
    const away = await until(async () => {
      const r = await get(a, '/readyz');
      return r.status === 503 ? r : undefined;
    }, 20_000, '/readyz to say NATS is away');
    t.match(JSON.parse(away.body), { status: 'not ready', reason: /NATS/ });
    t.equal((await get(a, '/healthz')).status, 200, 'alive all the same');
    await cl.nats.servers[0]!.restart();
    await until(async () => ((await get(a, '/readyz')).status === 200 ? true : undefined), 30_000, '/readyz to be 200 again once NATS is back');
    t.pass('ready again');
  });
}
