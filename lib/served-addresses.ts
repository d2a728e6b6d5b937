// Which local addresses a server bound to `host` answers on, one socket
// each. A socket bound to a wildcard address cannot choose the source
// address of its replies with Node's dgram: the kernel picks the route's
// preferred address, and a client that wrote to another address of a
// multihomed host drops the reply (protocol "Transport": replies come from
// the address the client sent to). So a wildcard host is served as the list
// of the host's addresses at start, as many UDP servers do.
import { networkInterfaces, type NetworkInterfaceInfo } from 'node:os';

export type Interfaces = NodeJS.Dict<NetworkInterfaceInfo[]>;

export function isWildcard(host: string): boolean {
  return host === '0.0.0.0' || host === '::';
}

/**
 * `host` itself when it is an address; for `0.0.0.0` every IPv4 address of
 * the host, for `::` every IPv6 address without a scope (link-local ones
 * need an interface name the protocol's `host` cannot carry) and every IPv4
 * one. Falls back to [host] (one wildcard socket) if the host has none.
 * Addresses added after start are not served until a restart.
 */
export function servedAddresses(host: string, interfaces: Interfaces = networkInterfaces()): string[] {
  if (!isWildcard(host)) return [host];
  const out: string[] = [];
  for (const infos of Object.values(interfaces)) {
    for (const i of infos ?? []) {
      if (i.family === 'IPv4' || (host === '::' && i.family === 'IPv6' && i.scopeid === 0 && !i.address.toLowerCase().startsWith('fe80:'))) {
        if (!out.includes(i.address)) out.push(i.address);
      }
    }
  }
  return out.length > 0 ? out : [host];
}
