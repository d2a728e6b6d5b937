// A routed test bed for clients on real networks (iproute2, nftables,
// conntrack), on the conventions of test/helpers/netns.ts (NsBed: unique
// names, cleanup by pid, no default route, 10.199.k.x only inside):
//
//   client ns ── veth ── router ns ── veth ── server ns
//   10.199.k.130/25   .129      .126/25    10.199.k.1/25 (+ 10.199.k.3/25)
//
// The run's 10.199.k.0/24 is cut in two /25 links. The client has one
// route, to the server's /25 via the router; the router forwards. What the
// router does to the client's datagrams is the bed's point:
//
// - 'fully-random': nftables `masquerade fully-random` out of the server
//   side: every new flow (client socket → one server port) gets its own
//   random source port, so one client socket shows up at the control port
//   and at each room port from different ports — a symmetric NAT. The
//   server has no route back to the client's /25: only the NAT's address
//   reaches it.
// - 'random': `masquerade random`. Same mapping rule, used for rebinding:
//   flushMappings() deletes the router's UDP conntrack entries, as a NAT
//   that dropped idle mappings would; the next datagram gets a new port.
//   Plain `masquerade` keeps the client's own source port when it is free,
//   so a flush would come back with the same port and the test would see
//   nothing (docs/network-tests.md).
// - 'none': plain routing; the server sees the client's own address and
//   has a route back. With serverAddresses 2 (a second address, .3, on the
//   server's link) this is the multihomed server.
//
// A second member "on the server side" runs in the server namespace and
// talks to the server's address: no NAT between them.
import { run, tryRun, NsBed, type Teardown } from './netns.js';

export type Masquerade = 'none' | 'random' | 'fully-random';

export interface NatBedOptions {
  masquerade: Masquerade;
  /** 2 adds 10.199.k.3 on the server's link (a secondary address: the kernel prefers .1 as source). */
  serverAddresses?: 1 | 2;
}

const NAT_TABLE = 'chatd_nat';

export class NatBed extends NsBed {
  readonly masquerade: Masquerade;
  readonly client: { ns: string; iface: string; address: string };
  readonly router: { ns: string; clientIface: string; serverIface: string; clientSide: string; serverSide: string };
  readonly server: { ns: string; iface: string; address: string; addresses: string[] };

  constructor(o: NatBedOptions) {
    super();
    this.masquerade = o.masquerade;
    const ip = (last: number) => `10.199.${this.k}.${last}`;
    const p = this.prefix;
    this.client = { ns: `${p}c`, iface: `${p}c0`, address: ip(130) };
    this.router = { ns: `${p}r`, clientIface: `${p}rc`, serverIface: `${p}rs`, clientSide: ip(129), serverSide: ip(126) };
    const addresses = o.serverAddresses === 2 ? [ip(1), ip(3)] : [ip(1)];
    this.server = { ns: `${p}s`, iface: `${p}s0`, address: ip(1), addresses };
  }

  /** The address the client's datagrams come from as the server sees them. */
  get clientSeenAs(): string {
    return this.masquerade === 'none' ? this.client.address : this.router.serverSide;
  }

  /** Builds namespaces, links, routes and the NAT. On failure, undoes what it made and throws. */
  build(): void {
    const { client: c, router: r, server: s } = this;
    const half = (last: number) => `10.199.${this.k}.${last}/25`;
    try {
      for (const ns of [c.ns, r.ns, s.ns]) this.addNamespace(ns);
      // Both ends of each pair are created inside their namespaces: nothing appears in the host's own.
      run(['ip', 'link', 'add', c.iface, 'netns', c.ns, 'type', 'veth', 'peer', 'name', r.clientIface, 'netns', r.ns]);
      run(['ip', 'link', 'add', s.iface, 'netns', s.ns, 'type', 'veth', 'peer', 'name', r.serverIface, 'netns', r.ns]);
      run(['ip', '-n', c.ns, 'addr', 'add', half(130), 'dev', c.iface]);
      run(['ip', '-n', r.ns, 'addr', 'add', half(129), 'dev', r.clientIface]);
      run(['ip', '-n', r.ns, 'addr', 'add', half(126), 'dev', r.serverIface]);
      for (const a of s.addresses) run(['ip', '-n', s.ns, 'addr', 'add', `${a}/25`, 'dev', s.iface]);
      for (const [ns, iface] of [[c.ns, c.iface], [r.ns, r.clientIface], [r.ns, r.serverIface], [s.ns, s.iface]] as const) {
        run(['ip', '-n', ns, 'link', 'set', iface, 'up']);
      }
      // Routes to the other /25 only: no default route, nothing can leave the bed.
      run(['ip', '-n', c.ns, 'route', 'add', `10.199.${this.k}.0/25`, 'via', r.clientSide]);
      if (this.masquerade === 'none') run(['ip', '-n', s.ns, 'route', 'add', `10.199.${this.k}.128/25`, 'via', r.serverSide]);
      run(['ip', 'netns', 'exec', r.ns, 'sysctl', '-qw', 'net.ipv4.ip_forward=1']);
      if (this.masquerade !== 'none') {
        // One statement per line: nft does not take `masquerade fully-random; }` on one line.
        run(
          ['ip', 'netns', 'exec', r.ns, 'nft', '-f', '-'],
          `table ip ${NAT_TABLE} {
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    oifname "${r.serverIface}" masquerade ${this.masquerade}
  }
}
`,
        );
      }
    } catch (err) {
      this.removeNamespaces();
      throw err;
    }
  }

  /**
   * Deletes every UDP mapping (conntrack entry) in the router, as a NAT
   * that timed them out would. Returns how many there were.
   */
  flushMappings(): number {
    let out: string;
    try {
      out = run(['ip', 'netns', 'exec', this.router.ns, 'conntrack', '-D', '-p', 'udp']);
    } catch (err) {
      // conntrack exits 1 when there was nothing to delete.
      if (/ 0 flow entries have been deleted/.test((err as Error).message)) return 0;
      throw err;
    }
    // One line per deleted entry on stdout (the count goes to stderr).
    return out.split('\n').filter((l) => l.trim() !== '').length;
  }

  /** The router's UDP mappings (conntrack -L), for diagnostics. */
  mappings(): string {
    try {
      return run(['ip', 'netns', 'exec', this.router.ns, 'conntrack', '-L', '-p', 'udp']);
    } catch (err) {
      return (err as Error).message;
    }
  }

  /** The client namespace's routes: the bed promises no default route. */
  clientRoutes(): string {
    return run(['ip', '-n', this.client.ns, 'route', 'show']);
  }
}

/** Builds a NAT bed whose destroy() runs at the test's teardown, even when the test fails. */
export function createNatBed(t: Teardown, o: NatBedOptions): NatBed {
  const bed = new NatBed(o);
  t.teardown(() => bed.destroy());
  bed.build();
  return bed;
}

let conntrackProbe: { ok: true } | { ok: false; reason: string } | undefined;

/** Whether `conntrack` (conntrack-tools) is here to drop a router's mappings. */
export function canFlushMappings(): { ok: true } | { ok: false; reason: string } {
  conntrackProbe ??= tryRun(['conntrack', '--version'])
    ? { ok: true }
    : { ok: false, reason: '`conntrack` is not on PATH; install conntrack (Debian package conntrack) to include the rebinding tests' };
  return conntrackProbe;
}
