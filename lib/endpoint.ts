// A client is known by the address:port the server sees (protocol "Transport").
export interface Endpoint {
  readonly address: string;
  readonly port: number;
}

export function endpointKey(e: Endpoint): string {
  return e.address.includes(':') ? `[${e.address}]:${e.port}` : `${e.address}:${e.port}`;
}
