// `who`: one page of the roster, sorted by the bytes of `member` so that
// `after` works even when that member has left (protocol "Order").
import { encode } from '../../lib/codec.js';
import type { MemberEntry, WhoRequest } from '../../lib/wire.js';
import type { Member } from '../member.js';
import type { RoomOps } from '../room-ops.js';

export function who(room: RoomOps, m: Member, req: WhoRequest): void {
  const after = req.after;
  const all = room.roster.sorted().filter((x) => after === undefined || x.member > after);
  const page: MemberEntry[] = [];
  const base = { type: 'members', id: req.id, room: room.name, members: page, more: false }; // "false" is the longer literal: size with it
  // The page is one datagram: grow it while it fits.
  let size = encode(base).length;
  for (const x of all) {
    if (page.length >= room.config.whoPageSize) break;
    const entry = { member: x.member, nick: x.nick };
    const add = encode(entry).length + (page.length > 0 ? 1 : 0);
    if (size + add > room.config.maxDatagramBytes) break;
    page.push(entry);
    size += add;
  }
  base.more = page.length < all.length;
  room.reply(m, base);
}
