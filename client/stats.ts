// What the client counts about its own traffic (ChatClient.stats()). The
// counters are plain numbers shared by the parts that send; nothing here
// allocates per datagram.

export interface Counters {
  /** Datagrams handed to the socket (control and rooms; refused ones included). */
  datagramsSent: number;
  /** Sends the OS refused with a code that means "this datagram is lost" (EPERM, ENETUNREACH, ...). */
  sendErrors: number;
  /** Resends: request retries, hb resends within a period, fetch retries, requests resent to a new membership. */
  retries: number;
  /** `where` requests asked for rooms that went silent (client/locate.ts). */
  probes: number;
}

export interface ClientStats extends Readonly<Counters> {
  /** Smoothed round-trip time in ms; undefined before the first sample. */
  srttMs: number | undefined;
  /** Its mean deviation in ms; undefined before the first sample. */
  rttvarMs: number | undefined;
  /** Round trips measured (requests answered on their first send). */
  rttSamples: number;
  /** The first retry delay in use now: max(retryInitialMs, RTO). */
  retryDelayMs: number;
}

export function newCounters(): Counters {
  return { datagramsSent: 0, sendErrors: 0, retries: 0, probes: 0 };
}
