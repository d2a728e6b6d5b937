// Incoming datagrams: split NDJSON (protocol "Transport"), validate every
// object with ServerMessage.parse (invalid ones are dropped), and route it.
// Datagrams are told apart by source port — the control endpoint or one
// room's port (live rooms never share a port) — then by the `room` and `id`
// fields of each object.
import { isIP } from 'node:net';
import { splitServerDatagram } from '../lib/codec.js';
import { ServerMessage, type JoinedReply } from '../lib/wire.js';
import { serverError } from './client-error.js';
import type { Requests } from './requests.js';
import type { RoomSession } from './room-session.js';
import type { RemoteInfo } from './transport.js';

export interface Routes {
  readonly controlPort: number;
  /** The server's address when known (host is an IP literal): datagrams from elsewhere are dropped. */
  readonly serverAddress: string | undefined;
  readonly requests: Requests;
  sessionAt(port: number): RoomSession | undefined;
  sessionNamed(room: string): RoomSession | undefined;
  /** The room is gone (`closed`). */
  closed(s: RoomSession, reason: string): void;
  /** The room answered NOT_MEMBER to our token (id: the request it answered, if any). */
  membershipLost(s: RoomSession, id: string | undefined): void;
  /** A `joined` from the control endpoint (after any request waiting for it took it). */
  joined(m: JoinedReply): void;
  report(err: unknown): void;
}

export function handleDatagram(r: Routes, buf: Buffer, from: RemoteInfo): void {
  if (r.serverAddress !== undefined && normalizeAddress(from.address) !== r.serverAddress) return;
  if (from.port !== r.controlPort && !r.sessionAt(from.port)) return;
  for (const raw of splitServerDatagram(buf)) {
    if (raw === null) continue;
    const parsed = ServerMessage.parse(raw);
    // Each object is routed afresh: an earlier one may have ended a session.
    if (parsed.ok) dispatch(r, parsed.value, from.port);
  }
}

function dispatch(r: Routes, m: ServerMessage, port: number): void {
  r.requests.handle(m, port);
  const fromControl = port === r.controlPort;
  const s = fromControl ? undefined : r.sessionAt(port);
  // Room traffic must name the room it comes from.
  const mine = s !== undefined && 'room' in m && m.room === s.room ? s : undefined;
  switch (m.type) {
    case 'msg':
    case 'presence':
      return mine?.onEvent(m);
    case 'hb':
      return mine?.onHb(m);
    case 'challenge':
      return mine?.onChallenge(m);
    case 'gap':
      return mine?.onGap(m);
    case 'fetched':
      return mine?.onFetched(m);
    case 'closed': {
      // From the control endpoint when the room process is dead (protocol `closed`).
      const target = fromControl ? r.sessionNamed(m.room) : mine;
      return target && r.closed(target, m.reason);
    }
    case 'error':
      if (!s) return; // control errors all answer requests (handled above)
      // NOT_MEMBER from the room is about our token, whichever request drew it.
      if (m.code === 'NOT_MEMBER') return r.membershipLost(s, m.id);
      if (m.id !== undefined) return; // a refused request: rejected above
      return r.report(serverError(m.code, `room ${s.room}: ${m.message}`));
    case 'joined':
      // One whose request gave up is still a membership the service holds for us.
      return fromControl ? r.joined(m) : undefined;
    case 'left':
    case 'rooms':
    case 'pong':
    case 'here':
    case 'members':
      return; // replies: matched by id above
    default: {
      const never: never = m;
      return r.report(new Error(`unhandled message ${JSON.stringify(never)}`));
    }
  }
}

/** The address to compare sources with, or undefined when any address will do (a host name, a wildcard). */
export function serverAddressOf(host: string): string | undefined {
  return isIP(host) !== 0 && host !== '0.0.0.0' && host !== '::' ? normalizeAddress(host) : undefined;
}

/** IPv4-mapped IPv6 addresses compare equal to their IPv4 form. */
function normalizeAddress(a: string): string {
  const lower = a.toLowerCase();
  return lower.startsWith('::ffff:') && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}
