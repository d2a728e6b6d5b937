// Which local addresses a wildcard host is served on, one socket each
// (lib/served-addresses.ts): replies must leave from the address a client
// wrote to, which a wildcard socket cannot choose.
import t from 'tap';
import { createSocket } from 'node:dgram';
import { bindAll } from '../lib/bind-all.js';
import { servedAddresses, type Interfaces } from '../lib/served-addresses.js';

const v4 = (address: string, internal = false) => ({ address, family: 'IPv4' as const, internal, netmask: '255.255.255.0', mac: '00:00:00:00:00:00', cidr: `${address}/24` });
const v6 = (address: string, scopeid = 0) => ({ address, family: 'IPv6' as const, internal: false, netmask: 'ffff:ffff:ffff:ffff::', mac: '00:00:00:00:00:00', cidr: `${address}/64`, scopeid });

const IFACES: Interfaces = {
  lo: [v4('127.0.0.1', true), v6('::1')],
  eth0: [v4('10.1.0.5'), v4('10.1.0.6'), v6('fe80::1', 2), v6('2001:db8::5')],
  eth1: [v4('192.168.7.2')],
};

t.test('a specific host is served alone; a wildcard as every address of its family', async (t) => {
  t.same(servedAddresses('10.1.0.5', IFACES), ['10.1.0.5']);
  t.same(servedAddresses('0.0.0.0', IFACES), ['127.0.0.1', '10.1.0.5', '10.1.0.6', '192.168.7.2'], 'IPv4 only, loopback included');
  t.same(servedAddresses('::', IFACES), ['127.0.0.1', '::1', '10.1.0.5', '10.1.0.6', '2001:db8::5', '192.168.7.2'], 'IPv6 without a scope, and IPv4');
  t.same(servedAddresses('0.0.0.0', {}), ['0.0.0.0'], 'no address at all: the wildcard itself');
  t.same(servedAddresses('0.0.0.0', { lo: [v4('127.0.0.1', true)], alias: [v4('127.0.0.1', true)] }), ['127.0.0.1'], 'each address once');
});

t.test('bindAll binds every address on one port, and gives up cleanly when a fixed port is taken on one', async (t) => {
  const addresses = ['127.0.0.1', '127.0.0.2', '127.0.0.3'];
  const got: Array<[number, string]> = [];
  const { sockets, port } = await bindAll(addresses, 0, (s, via) => s.on('message', (buf) => got.push([via, buf.toString()])));
  t.teardown(() => sockets.forEach((s) => s.close()));
  t.same(sockets.map((s) => s.address()), addresses.map((address) => ({ address, family: 'IPv4', port })), 'one port on every address');
  // A datagram to each address arrives at its own socket.
  const client = createSocket('udp4');
  t.teardown(() => client.close());
  for (const a of addresses) client.send(a, port, a);
  const deadline = Date.now() + 5_000;
  while (got.length < 3 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  t.same(got.sort(), [[0, '127.0.0.1'], [1, '127.0.0.2'], [2, '127.0.0.3']]);
  // The same fixed port again: taken on every address, so it fails and nothing stays bound.
  const err = await bindAll(['127.0.0.4', '127.0.0.2'], port, () => {}).catch((e: unknown) => e);
  t.match(err, { code: 'EADDRINUSE' });
  const again = createSocket('udp4');
  t.teardown(() => again.close());
  await new Promise<void>((resolve, reject) => {
    again.once('error', reject);
    again.bind(port, '127.0.0.4', resolve);
  });
  t.pass('the address bound before the failure was released');
});
