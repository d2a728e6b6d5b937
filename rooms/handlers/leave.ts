// Room-endpoint `leave`: same effect as the control `leave`; `left` comes
// from the room endpoint and the supervisor is told (it owns the roster).
import type { Member } from '../member.js';
import type { Room } from '../room.js';

export function leave(room: Room, m: Member, req: { type: 'leave'; id: string }): void {
  room.leaveFromRoom(m, req.id);
}
