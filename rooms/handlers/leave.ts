// Room-endpoint `leave`: same effect as the control `leave`; `left` comes
// from the room endpoint and the supervisor is told (it owns the roster).
import type { Member } from '../member.js';
import type { RoomOps } from '../room-ops.js';

export function leave(room: RoomOps, m: Member, req: { type: 'leave'; id: string }): void {
  room.leave(m, req.id);
}
