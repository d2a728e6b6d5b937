// Networks for limitExemptCidrs: CIDRs and bare addresses, IPv4 and IPv6,
// IPv4-mapped IPv6 sources treated as their IPv4 address.
import t from 'tap';
import { Networks, parseCidr } from '../lib/cidr.js';

t.test('parseCidr accepts CIDRs and bare addresses, nothing else', async (t) => {
  t.same(parseCidr('10.0.0.0/8'), { family: 'ipv4', address: '10.0.0.0', prefix: 8 });
  t.same(parseCidr('192.0.2.7'), { family: 'ipv4', address: '192.0.2.7', prefix: 32 });
  t.same(parseCidr('2001:db8::/32'), { family: 'ipv6', address: '2001:db8::', prefix: 32 });
  t.same(parseCidr('::1'), { family: 'ipv6', address: '::1', prefix: 128 });
  for (const bad of ['', '10.0.0.0/33', '::/129', '10.0.0.0/', '10.0.0.0/-1', '10.0.0.0/8/8', '10.0.0/8', 'example.com', '10.0.0.0/ 8', '10.0.0.0/0x8']) {
    t.equal(parseCidr(bad), undefined, JSON.stringify(bad));
  }
});

t.test('Networks matches addresses inside any of its networks', async (t) => {
  const n = new Networks(['10.0.0.0/8', '192.0.2.7', '2001:db8::/32']);
  t.ok(n.has('10.1.2.3'));
  t.ok(n.has('192.0.2.7'));
  t.notOk(n.has('192.0.2.8'));
  t.notOk(n.has('11.0.0.1'));
  t.ok(n.has('2001:db8:1::5'));
  t.ok(n.has('2001:DB8::5'), 'case does not matter');
  t.notOk(n.has('2001:db9::5'));
  t.ok(n.has('::ffff:10.9.9.9'), 'an IPv4-mapped source (a dual-stack socket) is its IPv4 address');
  t.notOk(n.has('::ffff:11.9.9.9'));
  t.notOk(n.has('not an address'));
  t.notOk(new Networks([]).has('10.0.0.1'), 'an empty list exempts nobody');
  t.throws(() => new Networks(['10.0.0.0/40']), TypeError);
});
