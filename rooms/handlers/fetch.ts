// `fetch`: resend held events of a range. Order (protocol "Details: Fetch"):
// a gap for the part no longer held, the held events ascending, then
// `fetched` naming the whole range answered.
import { ChatError } from '../../lib/errors.js';
import type { FetchRequest } from '../../lib/wire.js';
import type { Member } from '../member.js';
import type { Room } from '../room.js';

export const MAX_FETCH = 256;

export function fetch(room: Room, m: Member, req: FetchRequest): void {
  if (req.to < req.from) throw new ChatError('BAD_REQUEST', '"to" must not be below "from"');
  const latest = room.seq;
  if (req.from > latest) {
    room.reply(m, { type: 'fetched', room: room.name, from: req.from, to: req.from - 1 });
    return;
  }
  const to = Math.min(req.to, latest, req.from + MAX_FETCH - 1);
  const oldest = room.history.oldest;
  if (req.from < oldest) {
    room.reply(m, { type: 'gap', room: room.name, from: req.from, to: Math.min(to, oldest - 1) });
  }
  for (let s = Math.max(req.from, oldest); s <= to; s++) {
    const e = room.history.get(s);
    if (e) room.outbox.pushReply(m, e);
  }
  room.reply(m, { type: 'fetched', room: room.name, from: req.from, to });
}
