// `fetch`: resend held events of a range. Order (protocol "Details: Fetch"):
// a gap for the part no longer held, the held events ascending, then
// `fetched` naming the whole range answered. A room whose journal lost
// events in the middle holds a history with holes: each lost run is
// answered as its own `gap`, in seq order among the held events, so a
// client delivers everything held, in order, and skips only what is lost.
import { ChatError } from '../../lib/errors.js';
import { MAX_FETCH, type FetchRequest } from '../../lib/wire.js';
import type { Member } from '../member.js';
import type { RoomOps } from '../room-ops.js';

export function fetch(room: RoomOps, m: Member, req: FetchRequest): void {
  if (req.to < req.from) throw new ChatError('BAD_REQUEST', '"to" must not be below "from"');
  const latest = room.seq;
  if (req.from > latest) {
    room.reply(m, { type: 'fetched', room: room.name, from: req.from, to: req.from - 1 });
    return;
  }
  const to = Math.min(req.to, latest, req.from + MAX_FETCH - 1);
  let gapFrom = 0; // start of the lost run being collected, 0: none
  for (let s = req.from; s <= to; s++) {
    const e = room.history.get(s);
    if (!e) {
      if (gapFrom === 0) gapFrom = s;
      continue;
    }
    if (gapFrom !== 0) room.reply(m, { type: 'gap', room: room.name, from: gapFrom, to: s - 1 });
    gapFrom = 0;
    room.resend(m, e);
  }
  if (gapFrom !== 0) room.reply(m, { type: 'gap', room: room.name, from: gapFrom, to });
  room.reply(m, { type: 'fetched', room: room.name, from: req.from, to });
}
