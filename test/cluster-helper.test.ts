// The tests' cluster (test/helpers/cluster.ts): each node answers on its
// own loopback address, and the whole-node faults act on the whole node:
// killNode leaves no process of it (supervisor, room, pooled process) and
// the other node answering; stopNode silences a node until contNode;
// restartNode brings it back on its address and port.
import { readFileSync } from 'node:fs';
import t from 'tap';
import { startCluster } from './helpers/cluster.js';
import { skipReason } from './helpers/nats.js';
import { isAlive } from './helpers/pids.js';
import { descendants } from './helpers/proc-tree.js';
import { RawClient } from './helpers/raw-client.js';
import { udpPing } from './helpers/udp-ping.js';

const reason = skipReason();
if (reason) {
  t.plan(0, `NATS tests skipped: ${reason}`);
} else {
  t.test('two nodes on one NATS: each answers on its own address, and the node faults act on whole nodes', async (t) => {
    const cl = await startCluster(t, { nats: 1, nodes: 2 });
    t.equal(cl.nodes.length, 2, 'two nodes');
    t.same([cl.address(0), cl.address(1)], ['127.0.0.1', '127.0.0.2'], 'on 127.0.0.1 and 127.0.0.2');
    for (const [i, c] of cl.nodes.entries()) {
      const pong = await udpPing(cl.address(i), c.port, `p${i}`);
      t.equal(pong['id'], `p${i}`, `node ${i} answers a ping at ${cl.address(i)}:${c.port}`);
      const cfg = JSON.parse(readFileSync(c.configPath, 'utf8')) as Record<string, unknown>;
      t.match(
        cfg,
        { advertiseHost: cl.address(i), nodeName: `node-${i + 1}`, clusterName: cl.clusterName, natsServers: cl.nats.urls, journalReplicas: 1 },
        `node ${i}'s config makes it node-${i + 1} of the cluster`,
      );
    }

    // A room on node 0, so that its tree holds a room as well as the pooled process.
    const client = await RawClient.open(t);
    await client.join(cl.nodes[0]!.port, 'lobby', 'alice');
    const roomPid = await cl.nodes[0]!.roomPid('lobby');
    await cl.nodes[0]!.waitLog((l) => l.event === 'pool_process_ready' && l['roomPid'] !== roomPid, 15_000, 'a pooled process besides the room');
    const tree = [cl.nodes[0]!.pid, ...descendants(cl.nodes[0]!.pid)];
    t.ok(tree.includes(roomPid), `node 0's tree (${tree.join(', ')}) holds its room (pid ${roomPid})`);
    t.ok(tree.length >= 3, 'and a pooled process');

    await cl.killNode(0);
    t.same(tree.filter(isAlive), [], 'killNode(0): no process of node 0 is left');
    t.ok(cl.nodes[0]!.exitInfo()?.signal === 'SIGKILL', 'its supervisor died of SIGKILL');
    t.equal((await udpPing(cl.address(1), cl.nodes[1]!.port, 'p1-after'))['type'], 'pong', 'node 1 still answers');

    await cl.stopNode(1);
    await t.rejects(udpPing(cl.address(1), cl.nodes[1]!.port, 'p1-stopped', 1_000), /no pong/, 'stopNode(1): node 1 is silent');
    await cl.contNode(1);
    t.equal((await udpPing(cl.address(1), cl.nodes[1]!.port, 'p1-cont'))['type'], 'pong', 'contNode(1): it answers again');

    const oldPort = cl.nodes[0]!.port;
    const again = await cl.restartNode(0);
    t.equal(cl.nodes[0], again, 'restartNode(0) replaces node 0');
    t.equal(again.port, oldPort, 'on the port it had');
    t.equal((await udpPing(cl.address(0), again.port, 'p0-again'))['type'], 'pong', 'and it answers on its address');

    const all = cl.nodes.flatMap((c) => [c.pid, ...descendants(c.pid)]);
    await cl.stop();
    t.same(all.filter(isAlive), [], 'stop(): no node process is left');
    t.notOk(cl.nats.servers.some((s) => s.alive()), 'nor a NATS server');
  });
}
