// A client is known by the address:port the server sees (protocol "Transport").
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export function endpointKey(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}

/**
 * A client endpoint and which of the server's sockets (one per local
 * address) it wrote to: replies go back through that socket, so they come
 * from the address the client used (protocol "Transport").
 */
export interface Peer extends Endpoint {
  readonly via: number;
}
