// `hb`: the datagram itself refreshed lastSeen; the reply tells the member
// the latest seq so it can fetch what it has not seen (protocol "Details").
import type { Member } from '../member.js';
import type { RoomOps } from '../room-ops.js';

export function hb(room: RoomOps, m: Member, _req: { type: 'hb' }): void {
  room.reply(m, { type: 'hb', room: room.name, seq: room.seq });
}
