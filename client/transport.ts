// The client's one UDP socket (protocol "Transport": one socket for the
// control endpoint and every room, so the server sees one endpoint).
// Behind an interface so tests can run the client over an in-memory network.
import { createSocket, type Socket } from 'node:dgram';
import { isIPv6 } from 'node:net';

export interface RemoteInfo {
  address: string;
  port: number;
}

/**
 * Send failures that mean only "this datagram is lost": a local firewall
 * dropped it (EPERM), no route or the host is down (ENETUNREACH,
 * EHOSTUNREACH, ENETDOWN, EHOSTDOWN), an ICMP unreachable came back for an
 * earlier one (ECONNREFUSED; ECONNRESET on Windows), or the send buffer is
 * full (ENOBUFS, EAGAIN). The protocol retries what matters, so the client
 * counts these (stats().sendErrors) instead of reporting them.
 */
export const LOST_DATAGRAM_CODES: ReadonlySet<string> = new Set([
  'EPERM',
  'ECONNREFUSED',
  'ECONNRESET',
  'ENETUNREACH',
  'EHOSTUNREACH',
  'ENETDOWN',
  'EHOSTDOWN',
  'ENOBUFS',
  'EAGAIN',
  'EWOULDBLOCK',
]);

/** True for an error whose code is in LOST_DATAGRAM_CODES. */
export function isLostDatagram(err: unknown): boolean {
  const code = typeof err === 'object' && err !== null ? (err as { code?: unknown }).code : undefined;
  return typeof code === 'string' && LOST_DATAGRAM_CODES.has(code);
}

export interface ClientTransport {
  /**
   * Sends one datagram. Should not throw: failures are reported through
   * onError, if at all. (ChatClient treats a throw like a reported failure.)
   */
  send(buf: Buffer, port: number, host: string): void;
  /** Registers the one receiver of incoming datagrams. */
  onMessage(fn: (buf: Buffer, from: RemoteInfo) => void): void;
  /** The local endpoint; may throw until ready() has resolved. */
  address(): RemoteInfo;
  /** Resolves once the socket is bound (optional: in-memory transports are always ready). */
  ready?(): Promise<void>;
  /** Registers a receiver for socket errors (optional). */
  onError?(fn: (err: Error) => void): void;
  close(): Promise<void>;
}

/**
 * A real UDP socket, bound eagerly to an ephemeral port on all interfaces of
 * the family that matches the server host (udp6 for IPv6 literals, else udp4).
 * The socket stays referenced, so it keeps the process alive until close().
 */
export class UdpTransport implements ClientTransport {
  private readonly socket: Socket;
  private readonly bound: Promise<void>;
  private errorFn: (err: Error) => void = () => {};
  private closed = false;

  constructor(serverHost: string) {
    this.socket = createSocket(isIPv6(serverHost) ? 'udp6' : 'udp4');
    this.bound = new Promise<void>((resolve, reject) => {
      const onError = (err: Error) => reject(err);
      this.socket.once('error', onError);
      this.socket.bind(0, () => {
        this.socket.off('error', onError);
        resolve();
      });
    });
    // A bind failure rejects ready(); keep it from being an unhandled rejection.
    this.bound.catch(() => {});
    this.socket.on('error', (err) => this.errorFn(err));
  }

  ready(): Promise<void> {
    return this.bound;
  }

  send(buf: Buffer, port: number, host: string): void {
    if (this.closed) return;
    try {
      this.socket.send(buf, port, host, (err) => {
        if (err) this.errorFn(err);
      });
    } catch (err) {
      this.errorFn(err as Error);
    }
  }

  onMessage(fn: (buf: Buffer, from: RemoteInfo) => void): void {
    this.socket.on('message', (buf, rinfo) => fn(buf, { address: rinfo.address, port: rinfo.port }));
  }

  onError(fn: (err: Error) => void): void {
    this.errorFn = fn;
  }

  address(): RemoteInfo {
    const a = this.socket.address();
    return { address: a.address, port: a.port };
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.closed = true;
    return new Promise<void>((resolve) => {
      try {
        this.socket.close(() => resolve());
      } catch {
        resolve(); // already closed (e.g. bind failed)
      }
    });
  }
}
