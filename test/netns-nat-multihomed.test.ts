// A server with two addresses (test/helpers/nat-bed.ts, no NAT, 10.199.k.1
// and 10.199.k.3 on one link) running chatd bound to 0.0.0.0; the client
// talks to the second address. Every reply and event must come from the
// address the client sent to — a wildcard-bound socket left to itself
// answers from the first (test/netns-nat-beds.test.ts) and the client
// drops that as not from its server. Checked twice: with a bare socket
// speaking the wire protocol (each datagram's source recorded, `joined.host`
// read as sent), and with two ChatClient members chatting, one on each
// address, counting every datagram's source before the library filters.
import t from 'tap';
import { analyse } from './helpers/delivery-check.js';
import { createNatBed } from './helpers/nat-bed.js';
import { complaints, evictions, RETRY_MS, startChatdInBed, startPair } from './helpers/nat-chat.js';
import { canRun } from './helpers/netns.js';
import { startUdpSocket, type UdpSocket } from './helpers/udp-peer.js';

const SENDS = 40;
const RATE_MS = 60;
const DURATION_MS = 30_000;
const REPLY_MS = 3_000; // one reply on a lossless link; a missing one fails the step

type Obj = Record<string, unknown>;

/** Sends a request and waits for the first datagram whose object matches; returns it and its source. */
async function request(sock: UdpSocket, to: string, msg: Obj, match: (o: Obj) => boolean, what: string): Promise<{ obj: Obj; from: string }> {
  const skip = sock.received().length;
  sock.send(to, JSON.stringify(msg));
  const parse = (text: string): Obj[] =>
    text
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((l) => JSON.parse(l) as Obj);
  const d = await sock.next((x) => parse(x.text).some(match), REPLY_MS, what, skip);
  return { obj: parse(d.text).find(match)!, from: d.from };
}

const can = canRun();
if (!can.ok) {
  t.plan(0, `network namespace tests skipped: ${can.reason}`);
} else {
  t.test('chatd on 0.0.0.0 with two addresses, reached at the second', async (t) => {
    const bed = createNatBed(t, { masquerade: 'none', serverAddresses: 2 });
    const [primary, second] = bed.server.addresses as [string, string];
    const d = await startChatdInBed(bed, '0.0.0.0', second);
    t.comment(`bed ${bed.prefix}: chatd on 0.0.0.0:${d.port} in a namespace with ${primary} and ${second}; client ${bed.client.address}`);

    await t.test('the wire protocol from a bare socket', async (t) => {
      const sock = await startUdpSocket(bed, bed.client.ns);
      const control = `${second}:${d.port}`;
      const pong = await request(sock, control, { type: 'ping', id: 'p1' }, (o) => o['type'] === 'pong', 'pong');
      t.equal(pong.from, control, 'pong from the address and port pinged');
      const joined = await request(sock, control, { type: 'join', id: 'j1', room: 'wire', nick: 'raw' }, (o) => o['id'] === 'j1', 'joined');
      t.equal(joined.obj['type'], 'joined', 'joined');
      t.equal(joined.from, control, 'joined from the control endpoint as addressed');
      t.equal(joined.obj['host'], second, 'joined.host is the address the client used');
      const room = `${String(joined.obj['host'] ?? second)}:${String(joined.obj['port'])}`;
      const token = joined.obj['token'];
      const hb = await request(sock, room, { type: 'hb', token }, (o) => o['type'] === 'hb', 'hb reply');
      t.equal(hb.from, room, 'hb answered from the room endpoint as addressed');
      const said = await request(sock, room, { type: 'say', token, id: 's1', text: 'from the second address' }, (o) => o['type'] === 'msg' && o['id'] === 's1', 'the say acknowledged');
      t.equal(said.from, room, 'say acknowledged from the room endpoint');
      const fetched = await request(sock, room, { type: 'fetch', token, from: 1, to: 10 }, (o) => o['type'] === 'fetched', 'fetched');
      t.equal(fetched.from, room, 'fetch answered from the room endpoint');
      const left = await request(sock, room, { type: 'leave', token, id: 'l1' }, (o) => o['type'] === 'left', 'left');
      t.equal(left.from, room, 'left from the room endpoint');
      const sources = [...new Set(sock.received().map((x) => x.from))];
      t.comment(`bare socket got ${sock.received().length} datagrams from ${sources.join(', ')}`);
      t.ok(sources.every((s) => s.startsWith(`${second}:`)), `every datagram came from ${second}`);
    });

    await t.test('two ChatClient members, one on each address', async (t) => {
      // The plain member (in the server's namespace) uses the primary address; the other the second.
      const pair = await startPair(bed, d, {
        room: 'homes',
        send: SENDS,
        rateMs: RATE_MS,
        durationMs: DURATION_MS,
        maxAttempts: 20,
        retryMs: RETRY_MS,
        recordSources: true,
        plainHost: primary,
      });
      pair.natted.go();
      pair.plain.go();
      const [remote, local] = await Promise.all([pair.natted.result(DURATION_MS + 15_000), pair.plain.result(DURATION_MS + 15_000)]);
      const joinedHost = pair.natted.lines.find((l) => l.event === 'joined')?.['host'];
      const { figures: f, problems } = analyse([remote, local]);
      t.comment(
        `delivered ${f.delivered}/${f.expected}, max delivery delay ${f.maxDelayMs} ms; ` +
          `client on ${second} got datagrams from ${JSON.stringify(remote.sources)}, member on ${primary} from ${JSON.stringify(local.sources)}`,
      );
      t.equal(joinedHost, second, 'the library reports joined.host as the second address');
      t.ok(Object.keys(remote.sources).length > 0, 'the client on the second address received datagrams');
      t.ok(Object.keys(remote.sources).every((s) => s.startsWith(`${second}:`)), `every datagram the client got came from ${second}`);
      t.ok(Object.keys(local.sources).every((s) => s.startsWith(`${primary}:`)), `every datagram the other member got came from ${primary}`);
      t.ok(f.expected >= 2 * 2 * (SENDS + 1), `every say acknowledged is owed to both members (${f.expected})`);
      t.same(problems, [], 'acknowledged says reach both members exactly once, in seq order, with no gap or lost membership');
      t.same([...evictions(d, pair.nattedMember), ...evictions(d, pair.plainMember)], [], 'nobody was evicted');
      t.same((await Promise.all([pair.natted.exited, pair.plain.exited])).map((e) => e.code), [0, 0], 'both left and exited 0');
    });
    t.comment(`chatd warnings and errors: ${complaints(d).join(' | ') || 'none'}`);
  });
}
