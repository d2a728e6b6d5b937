// The room's batched sends (rooms/native/udp-batch.cc, sendmmsg(2)), when
// the native helper was built and the config allows it. The Outbox hands a
// turn's shared datagrams and the members that get them to sendToAll; what
// the helper could not send (a full socket buffer, a destination's error)
// goes through dgram, in order, so nothing is lost or reordered.
import type { Socket } from 'node:dgram';
import { createRequire } from 'node:module';
import type { BatchTransport } from './outbox.js';

interface Native {
  sockaddr(family: 4 | 6, address: string, port: number): Buffer | undefined;
  sendToAll(fd: number, datagrams: readonly Buffer[], addrs: readonly Buffer[]): number;
}

let loaded: { native: Native } | { why: string } | undefined;

/**
 * The helper, or why it is not there; loaded once (dlopen costs ~1 ms, which
 * a pooled process pays while it warms up, not during a room's start).
 */
export function loadNative(): { native: Native } | { why: string } {
  if (loaded) return loaded;
  try {
    const require = createRequire(import.meta.url);
    loaded = { native: require('./native/udp-batch.node') as Native };
  } catch (err) {
    loaded = { why: (err as Error).message.split('\n')[0] ?? 'not loadable' };
  }
  return loaded;
}

/**
 * The file descriptor of a bound dgram socket. Node has no public accessor;
 * its handle keeps the fd behind a symbol (`_handle` is the same, but
 * deprecated with a warning). Undefined if this Node hides it differently.
 */
export function socketFd(sock: Socket): number | undefined {
  for (const sym of Object.getOwnPropertySymbols(sock)) {
    const state = (sock as unknown as Record<symbol, unknown>)[sym] as { handle?: { fd?: unknown } } | undefined;
    const fd = state?.handle?.fd;
    if (typeof fd === 'number' && fd >= 0) return fd;
  }
  return undefined;
}

/**
 * The Outbox's batch path on the room's bound sockets (indexed by `via`),
 * or why batching cannot be used (then the room sends with dgram only).
 */
export function batchSender(socks: readonly Socket[]): { batch: BatchTransport } | { why: string } {
  const loaded = loadNative();
  if ('why' in loaded) return loaded;
  const fds: number[] = [];
  for (const sock of socks) {
    const fd = socketFd(sock);
    if (fd === undefined) return { why: "the socket's file descriptor is not reachable in this Node" };
    fds.push(fd);
  }
  const families = socks.map((s) => (s.address().family === 'IPv6' ? 6 : 4) as 4 | 6);
  const { native } = loaded;
  return {
    batch: {
      sockaddr: (address, port, via) => native.sockaddr(families[via]!, address, port),
      sendToAll: (datagrams, addrs, via) => native.sendToAll(fds[via]!, datagrams, addrs),
      // A closed socket throws here: then never batch again (its fd number may be reused).
      ready: (via) => {
        try {
          return socks[via]!.getSendQueueCount() === 0;
        } catch {
          return false;
        }
      },
    },
  };
}
