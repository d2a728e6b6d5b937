// `rooms`: one page of room names, sorted by bytes. The requester is never
// proven (no token), so the page is as large as 3x the request allows
// (protocol "Anti-amplification": clients pad to get larger pages).
import { encode } from '../../lib/codec.js';
import { ChatError } from '../../lib/errors.js';
import type { RoomEntry as WireRoomEntry, RoomsRequest } from '../../lib/wire.js';
import { replierOf, type ControlContext } from '../control-socket.js';
import type { RoomsDeps } from '../deps.js';

export function rooms(sup: RoomsDeps, req: RoomsRequest, ctx: ControlContext): void {
  const after = req.after;
  // Only rooms that hold members: one still starting for its first join is not listed yet.
  const listed = everyRoom(sup).filter((e) => e.members > 0 && (after === undefined || e.room > after));
  listed.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
  const page: WireRoomEntry[] = [];
  // "false" is the longer literal, so sizing with it is safe either way.
  const reply = { type: 'rooms', id: req.id, rooms: page, more: false };
  const limit = Math.min(ctx.budget.remaining, sup.config.maxDatagramBytes);
  let size = encode(reply).length;
  for (const room of listed) {
    if (page.length >= sup.config.roomsPageSize) break;
    const entry = { room: room.room, members: room.members };
    const add = encode(entry).length + (page.length > 0 ? 1 : 0);
    if (size + add > limit) break;
    page.push(entry);
    size += add;
  }
  reply.more = page.length < listed.length;
  if (page.length === 0 && reply.more) {
    // An empty page with more:true gives the client no `after` to go on:
    // tell it to pad instead (protocol "Anti-amplification").
    throw new ChatError('BAD_REQUEST', 'page too small: pad the request');
  }
  replierOf(sup, ctx).sendWithin(ctx.from, ctx.budget, encode(reply));
}

/**
 * The room space: this node's rooms, and in cluster mode every room in the
 * directory (protocol "Several nodes": `rooms` lists the whole room space),
 * with this node's own counts, which are the freshest.
 */
function everyRoom(sup: RoomsDeps): Array<{ room: string; members: number }> {
  const local = sup.registry.list().map((e) => ({ room: e.name, members: e.members.size }));
  if (!sup.cluster) return local;
  const byName = new Map(sup.cluster.listRooms().map((r) => [r.room, r]));
  for (const r of local) byName.set(r.room, r);
  return [...byName.values()];
}
