// The server endpoints the client talks to: control endpoints and room
// endpoints, each a host and a port. Where a reply may come from is known by
// both (protocol "Replies come from the address you wrote to"; with several
// nodes, two rooms on two nodes may share a port number), except when the
// host is a name or a wildcard: then the address it resolves to is not
// known here, and any source address on that port will do.
import { isIP } from 'node:net';
import type { RemoteInfo } from './transport.js';

export interface Endpoint {
  /** What datagrams are sent to: an IP literal, or a name the OS resolves. */
  readonly host: string;
  readonly port: number;
  /** The source address replies must come from (normalised), or undefined when any will do. */
  readonly address: string | undefined;
}

export function endpoint(host: string, port: number): Endpoint {
  return Object.freeze({ host, port, address: serverAddressOf(host) });
}

/** Whether a datagram from `from` comes from endpoint ep. */
export function isFrom(ep: Endpoint, from: RemoteInfo): boolean {
  return from.port === ep.port && (ep.address === undefined || normalizeAddress(from.address) === ep.address);
}

/** Whether two endpoints are the same (a name is only the same as the same name). */
export function sameEndpoint(a: Endpoint, b: Endpoint): boolean {
  return a.port === b.port && (a.address ?? a.host.toLowerCase()) === (b.address ?? b.host.toLowerCase());
}

/**
 * Index keys of an endpoint: ep's own key, and the one a datagram from
 * `from` looks up first (then the any-address key of its port).
 */
export function endpointKey(ep: Endpoint): string {
  return `${ep.address ?? '*'}|${ep.port}`;
}

export function sourceKeys(from: RemoteInfo): [exact: string, any: string] {
  return [`${normalizeAddress(from.address)}|${from.port}`, `*|${from.port}`];
}

/** HOST:PORT, [V6]:PORT for IPv6 literals. */
export function endpointName(ep: { host: string; port: number }): string {
  return ep.host.includes(':') ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}

/** The address to compare sources with, or undefined when any address will do (a host name, a wildcard). */
export function serverAddressOf(host: string): string | undefined {
  return isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::' ? normalizeAddress(host) : undefined;
}

/** IPv4-mapped IPv6 addresses compare equal to their IPv4 form. */
function normalizeAddress(a: string): string {
  const lower = a.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}
