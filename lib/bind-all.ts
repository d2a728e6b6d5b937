// Binds one UDP socket per served address (lib/served-addresses.ts), all on
// one port: the control endpoint and each room are reachable at the same
// port on every address.
import { createSocket, type Socket } from 'node:dgram';
import { errnoCode } from './storage-errors.js';
import { literalLookup } from './literal-lookup.js';

/** Attaches the message listener to each socket before it binds (errors: the caller's, after the bind). */
export type Wire = (sock: Socket, via: number) => void;

export function socketFor(address: string): Socket {
  return createSocket({ type: address.includes(':') ? 'udp6' : 'udp4', lookup: literalLookup });
}

/**
 * Sockets bound to every address on one port: the first picks it (`port`,
 * or an ephemeral one for 0), the others follow. An ephemeral port that is
 * taken on another address is given back and another one tried (bounded);
 * a fixed port that cannot be had on every address fails as a single bind
 * would, and nothing stays bound.
 */
export async function bindAll(addresses: readonly string[], port: number, wire: Wire): Promise<{ sockets: Socket[]; port: number }> {
  const tries = port === 0 && addresses.length > 1 ? 8 : 1;
  for (let attempt = 1; ; attempt++) {
    const sockets = addresses.map((a, via) => {
      const s = socketFor(a);
      wire(s, via);
      return s;
    });
    try {
      const bound = await bindOne(sockets[0]!, addresses[0]!, port);
      for (let i = 1; i < sockets.length; i++) await bindOne(sockets[i]!, addresses[i]!, bound);
      return { sockets, port: bound };
    } catch (err) {
      for (const s of sockets) closeQuietly(s);
      if (attempt >= tries || errnoCode(err) !== 'EADDRINUSE') throw err;
    }
  }
}

function bindOne(sock: Socket, address: string, port: number): Promise<number> {
  return new Promise<number>((resolve, reject) => {
    sock.once('error', reject);
    sock.bind({ port, address, exclusive: true }, () => {
      sock.off('error', reject);
      resolve(sock.address().port);
    });
  });
}

function closeQuietly(s: Socket): void {
  try {
    s.close();
  } catch {
    // never bound, or closed already
  }
}
