// `say`: sequence a chat message and fan it out; the sender's copy is its ack.
import { ChatError } from '../../lib/errors.js';
import { checkText } from '../../lib/names.js';
import { encode } from '../../lib/codec.js';
import type { MsgEvent, SayRequest } from '../../lib/wire.js';
import type { Member } from '../member.js';
import { sayKey, type Room } from '../room.js';

export function say(room: Room, m: Member, req: SayRequest): void {
  // A retry of a sequenced say gets the original msg again, to the sender
  // only, and is not sequenced twice (protocol "Idempotence").
  const key = sayKey(m.member, req.id);
  const replay = room.says.get(key);
  if (replay) return room.outbox.pushReply(m, replay);

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
    seq: room.seq + 1,
    member: m.member,
    nick: m.nick,
    text: req.text,
    ts: room.clock.now(),
    id: req.id,
  };
  const encoded = encode(event);
  // Checked before the seq is taken, so a refused say leaves no hole.
  if (encoded.length > room.config.maxDatagramBytes) {
    throw new ChatError('TOO_LARGE', `the message would exceed ${room.config.maxDatagramBytes} bytes`);
  }
  room.seq = event.seq;
  room.record(event.seq, encoded);
  room.broadcast(encoded);
  room.says.set(key, encoded);
}
