// The native fan-out helper (rooms/native/udp-batch.cc) on real loopback
// sockets. Where it cannot be built (no g++ or no Node headers) the build
// says so and rooms use dgram; here that is a skip with the reason, except
// on Linux with g++ present, where a missing helper is a failure.
import { spawnSync } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import t from 'tap';
import { batchSender, loadNative, socketFd } from '../rooms/udp-batch.js';

const loaded = loadNative();
const buildable = process.platform === 'linux' && spawnSync('g++', ['--version']).status === 0;
const noHelper = 'why' in loaded ? `native helper unavailable: ${loaded.why}` : false;
const native = () => {
  if ('why' in loaded) throw new Error(loaded.why);
  return loaded.native;
};

async function bound(type: 'udp4' | 'udp6' = 'udp4', address = '127.0.0.1'): Promise<Socket> {
  const s = createSocket(type);
  await new Promise<void>((resolve) => s.bind(0, address, resolve));
  return s;
}

t.test('the helper is built where it can be', { skip: buildable ? false : 'no g++ on Linux here: rooms send with dgram' }, async (t) => {
  t.notOk('why' in loaded, `the native helper loads (${'why' in loaded ? loaded.why : 'ok'})`);
});

t.test('sendToAll: every datagram to every receiver, in order, from the sending socket', { skip: noHelper }, async (t) => {
  const tx = await bound();
  const receivers = await Promise.all([1, 2, 3, 4, 5].map(() => bound()));
  t.teardown(() => [tx, ...receivers].forEach((s) => s.close()));
  const b = batchSender([tx]);
  if ('why' in b) return t.fail(b.why);
  const datagrams = Array.from({ length: 7 }, (_, i) => Buffer.from(`{"n":${i}}\n${'x'.repeat(100 * i)}`));
  const got = receivers.map(() => [] as Array<{ text: string; port: number }>);
  const all = Promise.all(
    receivers.map(
      (r, i) =>
        new Promise<void>((resolve) =>
          r.on('message', (buf, rinfo) => {
            got[i]!.push({ text: buf.toString(), port: rinfo.port });
            if (got[i]!.length === datagrams.length) resolve();
          }),
        ),
    ),
  );
  const addrs = receivers.map((r) => b.batch.sockaddr('127.0.0.1', r.address().port, 0)!);
  t.equal(b.batch.sendToAll(datagrams, addrs, 0), datagrams.length * receivers.length, 'all sent in one call');
  await all;
  for (const g of got) {
    t.strictSame(g.map((x) => x.text), datagrams.map((d) => d.toString()), 'in order, intact');
    t.ok(g.every((x) => x.port === tx.address().port), "from the room socket's own port");
  }
});

t.test('sockaddr: literals of the socket family only; anything else goes through dgram', { skip: noHelper }, async (t) => {
  t.equal(native().sockaddr(4, '10.0.0.1', 9)?.length, 16, 'IPv4: a sockaddr_in');
  t.equal(native().sockaddr(6, '::ffff:10.0.0.1', 9)?.length, 28, 'an IPv4-mapped address on an IPv6 socket: a sockaddr_in6');
  t.equal(native().sockaddr(4, 'localhost', 9), undefined, 'a name is not resolved');
  t.equal(native().sockaddr(4, '::1', 9), undefined, 'IPv6 on an IPv4 socket');
  t.equal(native().sockaddr(6, 'fe80::1%eth0', 9), undefined, 'a scoped address');
  t.equal(native().sockaddr(4, 'x'.repeat(500), 9), undefined, 'a long string');
  t.throws(() => native().sockaddr(4, '10.0.0.1', 70_000), 'a port out of range is a caller bug');
  t.throws(() => native().sendToAll(-1, [], []), 'so is a bad fd');
  t.throws(() => native().sendToAll(0, ['not a buffer' as unknown as Buffer], []), 'or a datagram that is not a Buffer');
});

t.test('a send the kernel refuses stops the batch and reports what went out', { skip: noHelper }, async (t) => {
  const tx = await bound();
  const rx = await bound();
  t.teardown(() => [tx, rx].forEach((s) => s.close()));
  const fd = socketFd(tx)!;
  const ok = native().sockaddr(4, '127.0.0.1', rx.address().port)!;
  // An IPv6 sockaddr on an IPv4 socket: the kernel refuses it (EINVAL/EAFNOSUPPORT).
  const wrongFamily = native().sockaddr(6, '::1', rx.address().port)!;
  t.equal(native().sendToAll(fd, [Buffer.from('a'), Buffer.from('b')], [ok, wrongFamily, ok]), 2, 'the first address got both; the batch stopped at the refusal');
});

t.test('socketFd finds the descriptor of a bound socket', async (t) => {
  const s = await bound();
  t.teardown(() => s.close());
  const fd = socketFd(s);
  t.type(fd, 'number');
  t.ok(fd! > 2, 'a real descriptor, not stdio');
});

t.test('ready(): batching waits for an empty dgram queue, and stops for good once the socket is closed', { skip: noHelper }, async (t) => {
  const s = await bound();
  const b = batchSender([s]);
  if ('why' in b) return t.fail(b.why);
  t.equal(b.batch.ready(0), true, 'an open socket with nothing queued');
  s.close();
  t.equal(b.batch.ready(0), false, 'a closed socket: its fd number may be reused');
});
