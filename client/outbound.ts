// Every datagram the client sends goes out here, to the control endpoint or
// to a room's port on the same host: counted (stats().datagramsSent), and a
// send the OS refuses with a code that means "this datagram is lost"
// (client/transport.ts) is counted as lost (stats().sendErrors), not
// reported: the protocol retries what matters. Any other failure is
// reported.
import type { Counters } from './stats.js';
import { isLostDatagram, type ClientTransport } from './transport.js';

export class Outbound {
  constructor(
    private readonly transport: ClientTransport,
    private readonly host: string,
    private readonly controlPort: number,
    private readonly counters: Counters,
    private readonly report: (err: unknown) => void,
  ) {}

  toControl(buf: Buffer): void {
    this.to(buf, this.controlPort);
  }

  to(buf: Buffer, port: number): void {
    this.counters.datagramsSent++;
    try {
      this.transport.send(buf, port, this.host);
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
