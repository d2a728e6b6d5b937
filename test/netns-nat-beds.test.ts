// The NAT test beds (test/helpers/nat-bed.ts) proved with bare UDP, no
// chatd: an echo in the server namespace reports the source it sees.
// - fully-random masquerade is a symmetric NAT: one client socket reaches
//   two server ports from two different source ports, each mapping stable
//   while it lives;
// - a conntrack flush in the router gives the same socket a new source port
//   (masquerade random; plain masquerade would keep the old one);
// - a wildcard-bound socket in a namespace with two addresses answers a
//   datagram sent to the second address from the first: the behaviour a
//   server on several addresses must not have.
// And each bed leaves nothing behind once destroyed.
import t from 'tap';
import { canFlushMappings, createNatBed, type NatBed } from './helpers/nat-bed.js';
import { canRun, leftoverNamespaces } from './helpers/netns.js';
import { askEcho, startUdpEcho, startUdpSocket } from './helpers/udp-peer.js';

const hostOf = (endpoint: string) => endpoint.slice(0, endpoint.lastIndexOf(':'));
const portOf = (endpoint: string) => Number(endpoint.slice(endpoint.lastIndexOf(':') + 1));

interface Asserts {
  same(found: unknown, wanted: unknown, msg: string): boolean;
}

/** Destroys the bed now (teardown would too) and checks nothing of it is left. */
async function checkGone(t: Asserts, bed: NatBed): Promise<void> {
  await bed.destroy();
  t.same(leftoverNamespaces(bed.prefix), [], 'no namespace of the bed is left');
  t.same(bed.pidsInside(), [], 'no process of the bed is left');
}

const can = canRun();
if (!can.ok) {
  t.plan(0, `network namespace tests skipped: ${can.reason}`);
} else {
  t.test('fully-random masquerade: a different source port towards every destination', async (t) => {
    const bed = createNatBed(t, { masquerade: 'fully-random' });
    t.notMatch(bed.clientRoutes(), /default/, 'the client has no default route');
    const echo = await startUdpEcho(bed, bed.server.ns, bed.server.address, [0, 0]);
    const sock = await startUdpSocket(bed, bed.client.ns);
    const [p1, p2] = echo.ports as [number, number];
    const a1 = await askEcho(sock, `${bed.server.address}:${p1}`);
    const b1 = await askEcho(sock, `${bed.server.address}:${p2}`);
    const a2 = await askEcho(sock, `${bed.server.address}:${p1}`);
    const b2 = await askEcho(sock, `${bed.server.address}:${p2}`);
    t.comment(`client socket ${bed.client.address}:${sock.port} seen at port ${p1} as ${a1.seen}, at port ${p2} as ${b1.seen}`);
    t.equal(hostOf(a1.seen), bed.router.serverSide, 'the server sees the NAT address, not the client');
    t.not(portOf(a1.seen), portOf(b1.seen), 'two destination ports: two source ports');
    t.not(portOf(a1.seen), sock.port, 'the client port is not kept');
    t.equal(a2.seen, a1.seen, 'the mapping towards the first port holds');
    t.equal(b2.seen, b1.seen, 'the mapping towards the second port holds');
    t.equal(a1.reply.from, `${bed.server.address}:${p1}`, 'replies come back through the mapping');
    await checkGone(t, bed);
  });

  const ct = canFlushMappings();
  t.test('conntrack flush: the next datagram gets a new source port', { skip: ct.ok ? false : ct.reason }, async (t) => {
    const bed = createNatBed(t, { masquerade: 'random' });
    const echo = await startUdpEcho(bed, bed.server.ns, bed.server.address, [0]);
    const sock = await startUdpSocket(bed, bed.client.ns);
    const to = `${bed.server.address}:${echo.ports[0]!}`;
    const seen: string[] = [(await askEcho(sock, to)).seen];
    t.equal((await askEcho(sock, to)).seen, seen[0], 'without a flush the mapping holds');
    for (let i = 0; i < 3; i++) {
      const flushed = bed.flushMappings();
      t.ok(flushed >= 1, `flush ${i + 1} deleted the mapping (${flushed} entries)`);
      seen.push((await askEcho(sock, to)).seen);
      t.not(seen.at(-1), seen.at(-2), `after flush ${i + 1} the server sees a new source port`);
    }
    t.comment(`one client socket, seen as ${seen.join(' → ')} across three flushes`);
    t.ok(seen.every((s) => hostOf(s) === bed.router.serverSide), 'always through the NAT address');
    await checkGone(t, bed);
  });

  t.test('two addresses: a wildcard-bound socket answers the second from the first', async (t) => {
    const bed = createNatBed(t, { masquerade: 'none', serverAddresses: 2 });
    const [primary, second] = bed.server.addresses as [string, string];
    const echo = await startUdpEcho(bed, bed.server.ns, '0.0.0.0', [0]);
    const sock = await startUdpSocket(bed, bed.client.ns);
    const port = echo.ports[0]!;
    const toPrimary = await askEcho(sock, `${primary}:${port}`);
    t.equal(toPrimary.reply.from, `${primary}:${port}`, 'sent to the primary address: answered from it');
    t.equal(hostOf(toPrimary.seen), bed.client.address, 'no NAT: the server sees the client address');
    const toSecond = await askEcho(sock, `${second}:${port}`);
    t.comment(`sent to ${second}:${port}, answered from ${toSecond.reply.from}`);
    t.equal(toSecond.reply.from, `${primary}:${port}`, 'sent to the second address: answered from the primary');
    await checkGone(t, bed);
  });
}
