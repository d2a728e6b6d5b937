// Several nodes of a new cluster started at once, as a deploy starts them,
// on three NATS servers (R3): every node must come up. Each round is a new
// clusterName on the same servers, so the stream and buckets are new each
// time: the race is between a node making the lease bucket and another
// putting its first lease in it before the bucket's stream has a leader
// ("no responders"). Three rounds, since one round can be lucky.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { clusterNodeConfig } from './helpers/cluster-config.js';
import { skipReason, startNats } from './helpers/nats.js';

const NODES = 3;
const ROUNDS = 3;

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('three nodes of a new cluster started at once all come up', { timeout: 90_000 }, async (t) => {
    const nats = await startNats(t, { servers: 3, jetstream: true });
    for (let round = 1; round <= ROUNDS; round++) {
      const clusterName = `start-${process.pid}-${round}`;
      const started = await Promise.allSettled(
        Array.from({ length: NODES }, (_, i) => {
          const cfg = clusterNodeConfig(i, { natsUrls: nats.urls, clusterName, replicas: 3, dataDir: '' });
          // Each node's own scratch dataDir (startChatd's default) rather than a shared one.
          delete cfg['dataDir'];
          return startChatd(t, cfg, {}, { host: cfg['host'] as string });
        }),
      );
      const failed = started.flatMap((r, i) => (r.status === 'rejected' ? [`node ${i}: ${(r.reason as Error).message.slice(0, 300)}`] : []));
      t.same(failed, [], `round ${round}: every node listens`);
      await Promise.all(started.map((r) => (r.status === 'fulfilled' ? r.value.stop() : undefined)));
    }
  });
}
