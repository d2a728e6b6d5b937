// Leaving a room (protocol "Leave after the room is gone"): the `leave` goes
// to the room endpoint first; a room that applied it and was then deleted
// (we were its last member) answers no retry, so after a few unanswered
// sends the same request, same id, goes to a control endpoint, which
// remembers successful leaves. Either endpoint's `left` ends it.
import { encode } from '../lib/codec.js';
import type { ServerMessage } from '../lib/wire.js';
import { ClientError } from './client-error.js';
import type { ControlRequests } from './control.js';
import type { Requests } from './requests.js';
import type { RoomSession } from './room-session.js';

/** Sends at the room endpoint before falling back to the control endpoint. */
export const ROOM_LEAVE_ATTEMPTS = 3;

export interface LeaveDeps {
  requests: Requests;
  control: ControlRequests;
  id: string;
  maxAttempts: number;
}

/**
 * Resolves on `left`, and also when the membership turns out to be gone
 * already (NOT_MEMBER, or the room `closed`); rejects with TIMEOUT when
 * neither endpoint answered.
 */
export async function leaveRoom(d: LeaveDeps, s: RoomSession): Promise<void> {
  const { id } = d;
  const room = s.room;
  const isLeft = (m: ServerMessage) => (m.type === 'left' && m.room === room ? true : undefined);
  // A late `left` from either endpoint answers either phase.
  const sources = [s.endpoint, ...d.control.servers.all];
  try {
    try {
      await d.requests.start({
        id,
        room,
        sources,
        maxAttempts: Math.min(ROOM_LEAVE_ATTEMPTS, d.maxAttempts),
        send: () => s.send({ type: 'leave', id }),
        accept: isLeft,
      });
    } catch (err) {
      if (!(err instanceof ClientError) || err.code !== 'TIMEOUT') throw err;
      const body = encode({ type: 'leave', id, room, token: s.token });
      // The same id as the room phase, whose late `left` may answer it: no round-trip sample.
      await d.control.start({ id, room, body, alsoFrom: [s.endpoint], accept: isLeft, measureRtt: false });
    }
  } catch (err) {
    if (err instanceof ClientError && (err.code === 'NOT_MEMBER' || err.code === 'CLOSED')) return;
    throw err;
  }
}
