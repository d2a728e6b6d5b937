// The room endpoint's command table: per request type, its handler and the
// rate limit it is admitted by. The checks every request shares (size, JSON,
// token, endpoint, schema) are done once in Room.handleDatagram before any
// handler runs.
import type { RoomRequest } from '../../lib/wire.js';
import type { Member } from '../member.js';
import type { RoomOps } from '../room-ops.js';
import { fetch } from './fetch.js';
import { hb } from './hb.js';
import { leave } from './leave.js';
import { say } from './say.js';
import { who } from './who.js';

/** Which of the member's token buckets a request draws from; null: none. */
export type RateBucket = 'say' | 'request' | null;

type RequestOf<T extends RoomRequest['type']> = Extract<RoomRequest, { type: T }>;

export interface Command<R> {
  readonly bucket: RateBucket;
  readonly run: (room: RoomOps, m: Member, req: R) => void;
}

// Keyed by every request type: a type without its command does not compile.
const COMMANDS: { readonly [T in RoomRequest['type']]: Command<RequestOf<T>> } = {
  say: { bucket: 'say', run: say },
  hb: { bucket: 'request', run: hb },
  fetch: { bucket: 'request', run: fetch },
  who: { bucket: 'request', run: who },
  // Never limited: a member that is told to slow down can still leave.
  leave: { bucket: null, run: leave },
};

/** The command for a request of this type: commandOf(req.type).run(room, m, req). */
export function commandOf<T extends RoomRequest['type']>(type: T): Command<RequestOf<T>> {
  return COMMANDS[type];
}
