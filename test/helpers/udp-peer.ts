// Drives test/fixtures/netns-udp.ts in a namespace of a test bed: a UDP
// echo that reports the source it saw, and a bare socket that records the
// source of everything it receives. What the beds are proved with.
import { fileURLToPath } from 'node:url';
import type { LogLine } from './chatd.js';
import { readLines, type LineReader, type NsBed } from './netns.js';

export const UDP_FIXTURE = fileURLToPath(new URL('../fixtures/netns-udp.js', import.meta.url));

export interface UdpEcho {
  ports: number[];
  lines: LogLine[];
}

/** An echo on host (0.0.0.0 for a wildcard bind) at each port (0: any free port). */
export async function startUdpEcho(bed: NsBed, ns: string, host: string, ports: number[]): Promise<UdpEcho> {
  const proc = bed.nodeIn(ns, UDP_FIXTURE, ['echo', '--host', host, '--ports', ports.join(',')], { stdio: ['pipe', 'pipe', 'pipe'] });
  const r = readLines(proc);
  const l = await r.wait((x) => x.event === 'listening', 10_000, 'udp echo listening');
  return { ports: l['ports'] as number[], lines: r.lines };
}

export interface Datagram {
  from: string;
  text: string;
  at: number;
}

export interface UdpSocket {
  port: number;
  send(to: string, text: string): void;
  /** Every datagram received so far, in order. */
  received(): Datagram[];
  /** The first datagram (received or to come) after the first `skip` that matches pred. */
  next(pred: (d: Datagram) => boolean, timeoutMs: number, what: string, skip?: number): Promise<Datagram>;
  reader: LineReader;
}

/** One bare socket (0.0.0.0, any port) in the namespace. */
export async function startUdpSocket(bed: NsBed, ns: string): Promise<UdpSocket> {
  const proc = bed.nodeIn(ns, UDP_FIXTURE, ['socket'], { stdio: ['pipe', 'pipe', 'pipe'] });
  proc.stdin?.on('error', () => {}); // gone before we wrote: the test fails on what it waits for instead
  const r = readLines(proc);
  const ready = await r.wait((x) => x.event === 'ready', 10_000, 'udp socket ready');
  const received = () => r.lines.filter((l) => l.event === 'datagram') as unknown as Datagram[];
  return {
    port: ready['port'] as number,
    send: (to, text) => proc.stdin?.write(JSON.stringify({ to, text }) + '\n'),
    received,
    next: async (pred, timeoutMs, what, skip = 0) => {
      const earlier = new Set<unknown>(received().slice(0, skip));
      const hit = await r.wait((l) => l.event === 'datagram' && !earlier.has(l) && pred(l as unknown as Datagram), timeoutMs, what);
      return hit as unknown as Datagram;
    },
    reader: r,
  };
}

/**
 * Sends text to `to` from the socket (again every 200 ms: the bed's links
 * are lossless, but a first datagram can race a link coming up) until an
 * echo reply arrives; returns the source the echo saw.
 */
export async function askEcho(sock: UdpSocket, to: string, timeoutMs = 5_000): Promise<{ seen: string; reply: Datagram }> {
  const skip = sock.received().length;
  const nonce = `${Date.now()}-${Math.random()}`;
  sock.send(to, nonce);
  const again = setInterval(() => sock.send(to, nonce), 200);
  try {
    const reply = await sock.next((d) => d.text.startsWith('{"seen"'), timeoutMs, `an echo from ${to}`, skip);
    return { seen: (JSON.parse(reply.text) as { seen: string }).seen, reply };
  } finally {
    clearInterval(again);
  }
}
