// The NATS test harness itself (test/helpers/nats.ts): a start that loses
// a port to another process retries on fresh ports, and stop() leaves no
// server process and no store folder behind.
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import t from 'tap';
import { isAlive } from './helpers/pids.js';
import { freePort, skipReason, startNats } from './helpers/nats.js';

const reason = skipReason();
if (reason) {
  t.plan(0, `NATS tests skipped: ${reason}`);
} else {
  t.test('a port taken between the probe and the bind: the start retries on fresh ports', async (t) => {
    const squatter: Server = createServer();
    await new Promise<void>((resolve) => squatter.listen(0, '127.0.0.1', resolve));
    t.teardown(() => squatter.close());
    const taken = (squatter.address() as { port: number }).port;
    let handed = 0;
    const nats = await startNats(t, { servers: 1, jetstream: true, pickPort: async () => (handed++ === 0 ? taken : freePort()) });
    t.equal(nats.attempts, 2, 'the first start failed to bind and the second ran');
    t.not(nats.urls[0], `nats://127.0.0.1:${taken}`, `the server is not on the taken port ${taken}`);
    const res = await fetch(`${nats.servers[0]!.monitorUrl}/healthz?js-enabled-only=true`);
    t.equal(res.status, 200, 'and it is healthy with JetStream');
  });

  t.test('stop() kills every server by pid and removes the stores', async (t) => {
    const nats = await startNats(t, { servers: 3, jetstream: true });
    const pids = nats.servers.map((s) => s.pid);
    t.ok(pids.every(isAlive), `three servers running (${pids.join(', ')})`);
    t.ok(existsSync(nats.dir), 'their stores exist');
    await nats.stop();
    t.ok(pids.every((p) => !isAlive(p)), 'no server left');
    t.notOk(existsSync(nats.dir), 'the scratch folder is gone');
  });
}
