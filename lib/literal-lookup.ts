// The `lookup` of the server's UDP sockets. Node's dgram resolves the
// address of every send through dns.lookup, which answers an IP literal on
// the next tick: a closure and a tick per datagram on the fan-out path
// (~0.3-0.5 µs of the ~2 µs of JS a send costs; docs/benchmarks.md). The
// servers only ever send to addresses a datagram came from (rinfo), which
// are IP literals, so those are answered at once; anything else (a host
// name in the config's `host`, at bind) still goes to dns.lookup.
import { lookup as dnsLookup, type LookupOneOptions } from 'node:dns';
import { isIP } from 'node:net';

type LookupCallback = (err: NodeJS.ErrnoException | null, address: string, family: number) => void;

export function literalLookup(hostname: string, options: LookupOneOptions | number, callback: LookupCallback): void {
  const family = isIP(hostname);
  if (family !== 0) return callback(null, hostname, family);
  dnsLookup(hostname, typeof options === 'number' ? { family: options } : options, callback);
}
