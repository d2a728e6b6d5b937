// `say`: sequence a chat message and fan it out; the sender's copy is its ack.
import { ChatError } from '../../lib/errors.js';
import { checkText } from '../../lib/names.js';
import type { MsgEvent, SayRequest } from '../../lib/wire.js';
import type { Member } from '../member.js';
import { sayKey, type RoomOps } from '../room-ops.js';

export function say(room: RoomOps, m: Member, req: SayRequest): void {
  // A retry of a sequenced say gets the original msg again, to the sender
  // only, and is not sequenced twice (protocol "Idempotence"); one staged in
  // this turn is answered by its own msg, or by its refusal.
  const key = sayKey(m.member, req.id);
  const replay = room.says.get(key);
  if (replay) return room.resend(m, replay);
  if (room.stagedSay(key)) return;

  switch (checkText(req.text, room.config.maxTextChars)) {
    case 'ok':
      break;
    case 'empty':
      throw new ChatError('BAD_REQUEST', 'text must not be empty');
    case 'too-long':
      throw new ChatError('TOO_LARGE', `text over ${room.config.maxTextChars} characters`);
    case 'control':
      throw new ChatError('BAD_REQUEST', 'text must not hold control characters');
  }
  const event: MsgEvent = {
    type: 'msg',
    room: room.name,
    seq: 0,
    member: m.member,
    nick: m.nick,
    text: req.text,
    ts: room.clock.wall(),
    id: req.id,
  };
  room.sequence(event, { key, sender: m }, room.config.maxDatagramBytes);
}
