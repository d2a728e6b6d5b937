// Requests at the control endpoints (ping, rooms, join, the control phase of
// leave, where). The client knows a list of them, and any one that answers
// will do (protocol "Several nodes (cluster mode)"): requests go to the
// current one; every send of one request (its retries, same id) goes to the
// server its first send went to, because only that one remembers the id; a
// request that server left unanswered (TIMEOUT) moves the client on to the
// next server in the list, for the requests that follow.
import { ClientError } from './client-error.js';
import { endpoint, isFrom, type Endpoint } from './endpoint.js';
import type { Outbound } from './outbound.js';
import type { RequestSpec, Requests } from './requests.js';
import type { RemoteInfo } from './transport.js';

export interface ServerAddress {
  host: string;
  port: number;
}

export interface ControlRequestSpec<T> extends Omit<RequestSpec<T>, 'send' | 'sources'> {
  /** The datagram, the same for every send. */
  body: Buffer;
  /** Endpoints besides the server whose answer also counts (a room's `left` for a control leave). */
  alsoFrom?: readonly Endpoint[];
}

export class ControlServers {
  readonly all: readonly Endpoint[];
  private at = 0;

  constructor(list: readonly ServerAddress[]) {
    this.all = Object.freeze(list.map((s) => endpoint(s.host, s.port)));
  }

  /** Where a new request goes. */
  get current(): Endpoint {
    return this.all[this.at]!;
  }

  /** Whether a datagram comes from one of the control endpoints. */
  isControl(from: RemoteInfo): boolean {
    return this.all.some((ep) => isFrom(ep, from));
  }

  /** A request to `server` went unanswered: new requests go to the next server, unless one moved on already. */
  unanswered(server: Endpoint): void {
    if (this.all[this.at] === server) this.at = (this.at + 1) % this.all.length;
  }
}

export class ControlRequests {
  constructor(
    readonly servers: ControlServers,
    private readonly requests: Requests,
    private readonly out: Outbound,
  ) {}

  /** One request, every send to the current server; a TIMEOUT moves on to the next for later requests. */
  async start<T>(spec: ControlRequestSpec<T>): Promise<T> {
    const server = this.servers.current;
    const { body, alsoFrom = [], ...rest } = spec;
    try {
      return await this.requests.start<T>({ ...rest, sources: [server, ...alsoFrom], send: () => this.out.to(body, server) });
    } catch (err) {
      if (err instanceof ClientError && err.code === 'TIMEOUT') this.servers.unanswered(server);
      throw err;
    }
  }

  /** One datagram nobody waits an answer for (a membership handed back), to the current server. */
  send(body: Buffer): void {
    this.out.to(body, this.servers.current);
  }
}
