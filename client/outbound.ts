// Every datagram the client sends goes out here, to a control endpoint or
// to a room endpoint: counted (stats().datagramsSent), and a
// send the OS refuses with a code that means "this datagram is lost"
// (client/transport.ts) is counted as lost (stats().sendErrors), not
// reported: the protocol retries what matters. Any other failure is
// reported.
import type { Counters } from './stats.js';
import { isLostDatagram, type ClientTransport } from './transport.js';

export class Outbound {
  constructor(
    private readonly transport: ClientTransport,
    private readonly counters: Counters,
    private readonly report: (err: unknown) => void,
  ) {}

  to(buf: Buffer, to: { readonly host: string; readonly port: number }): void {
    this.counters.datagramsSent++;
    try {
      this.transport.send(buf, to.port, to.host);
    } catch (err) {
      this.failed(err);
    }
  }

  /** A transport failure, thrown by send() or reported by the socket later. */
  failed(err: unknown): void {
    if (isLostDatagram(err)) {
      this.counters.sendErrors++;
      return;
    }
    this.report(err);
  }
}
