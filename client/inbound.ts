// Incoming datagrams: split NDJSON (protocol "Transport"), validate every
// object with ServerMessage.parse (invalid ones are dropped), and route it.
// Datagrams are told apart by source address and port — one of the control
// endpoints, or one room's endpoint (with several nodes, two rooms may share
// a port number on two addresses; live rooms never share an endpoint) —
// then by the `room` and `id` fields of each object. An endpoint named by a
// host name or a wildcard is matched by its port alone (client/endpoint.ts).
// Anything from a room's endpoint is a sign that the room is there
// (RoomSession.heard()).
import { splitServerDatagram } from '../lib/codec.js';
import { ServerMessage, type JoinedReply } from '../lib/wire.js';
import { serverError } from './client-error.js';
import type { Requests } from './requests.js';
import type { RoomSession } from './room-session.js';
import type { RemoteInfo } from './transport.js';

export interface Routes {
  /** Whether the datagram comes from one of the control endpoints. */
  isControl(from: RemoteInfo): boolean;
  readonly requests: Requests;
  /** The membership whose room endpoint the datagram comes from. */
  sessionFrom(from: RemoteInfo): RoomSession | undefined;
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
  const fromControl = r.isControl(from);
  if (!fromControl) {
    const s = r.sessionFrom(from);
    if (!s) return;
    s.heard();
  }
  for (const raw of splitServerDatagram(buf)) {
    if (raw === null) continue;
    const parsed = ServerMessage.parse(raw);
    // Each object is routed afresh: an earlier one may have ended a session.
    if (parsed.ok) dispatch(r, parsed.value, from, fromControl);
  }
}

function dispatch(r: Routes, m: ServerMessage, from: RemoteInfo, fromControl: boolean): void {
  r.requests.handle(m, from);
  const s = fromControl ? undefined : r.sessionFrom(from);
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
