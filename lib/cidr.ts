// Networks given as CIDRs ("10.0.0.0/8", "2001:db8::/32") or single
// addresses, and membership tests against them (the limitExemptCidrs list).
import { BlockList, isIP } from 'node:net';

export interface Cidr {
  readonly family: 'ipv4' | 'ipv6';
  readonly address: string;
  readonly prefix: number;
}

/** Parses "a.b.c.d/n", "x::/n" or a bare address (a /32 or /128); undefined if it is neither. */
export function parseCidr(s: string): Cidr | undefined {
  const slash = s.indexOf('/');
  const address = slash < 0 ? s : s.slice(0, slash);
  const v = isIP(address);
  if (v === 0) return undefined;
  const max = v === 4 ? 32 : 128;
  let prefix = max;
  if (slash >= 0) {
    const p = s.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p)) return undefined;
    prefix = Number(p);
    if (prefix > max) return undefined;
  }
  return { family: v === 4 ? 'ipv4' : 'ipv6', address, prefix };
}

/** A set of networks; addresses are tested after unmapping IPv4-mapped IPv6 ("::ffff:10.1.2.3" is 10.1.2.3). */
export class Networks {
  private readonly list = new BlockList();
  readonly size: number;

  constructor(cidrs: readonly string[]) {
    let n = 0;
    for (const s of cidrs) {
      const c = parseCidr(s);
      if (!c) throw new TypeError(`not a CIDR or an IP address: ${JSON.stringify(s)}`);
      this.list.addSubnet(c.address, c.prefix, c.family);
      n++;
    }
    this.size = n;
  }

  has(address: string): boolean {
    if (this.size === 0) return false;
    const lower = address.toLowerCase();
    const mapped = lower.startsWith('::ffff:') ? lower.slice(7) : undefined;
    if (mapped !== undefined && isIP(mapped) === 4) return this.list.check(mapped, 'ipv4');
    const v = isIP(lower);
    return v !== 0 && this.list.check(lower, v === 4 ? 'ipv4' : 'ipv6');
  }
}
