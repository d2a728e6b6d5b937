import t from 'tap';
import { literalLookup } from '../lib/literal-lookup.js';

t.test('IP literals are answered at once, in the same tick', async (t) => {
  for (const [ip, family] of [['127.0.0.1', 4], ['10.1.2.3', 4], ['::1', 6], ['fe80::1', 6]] as const) {
    let got: unknown[] | undefined;
    literalLookup(ip, family, (err, address, fam) => (got = [err, address, fam]));
    t.same(got, [null, ip, family], `${ip} without a tick`);
  }
});

t.test('a host name still goes to dns.lookup (asynchronously)', async (t) => {
  let sync = true;
  const got = await new Promise<unknown[]>((resolve) => {
    literalLookup('localhost', 4, (err, address, family) => resolve([err, address, family]));
    sync = false;
  });
  t.equal(sync, false, 'answered on a later tick, as dns.lookup does');
  t.same(got, [null, '127.0.0.1', 4], 'localhost resolved through the system resolver');
});
