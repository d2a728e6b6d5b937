// The admin listener's start failure, apart from the listener itself so that
// start-failure.ts can name it without loading prom-client.

/** The admin listener could not listen: a start failure (supervisor/start-failure.ts). */
export class AdminListenError extends Error {
  override name = 'AdminListenError';
  constructor(
    readonly host: string,
    readonly port: number,
    readonly code: string | undefined,
    cause: Error,
  ) {
    super(`cannot listen on ${hostPort(host, port)}/tcp (admin): ${cause.message}`);
  }
}

/** host:port, with an IPv6 address in brackets. */
export function hostPort(host: string, port: number): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}
