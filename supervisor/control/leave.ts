// Control `leave`: the token proves the endpoint; the room sequences the
// `presence leave`; a retry of a successful leave gets `left` again.
import { encode } from '../../lib/codec.js';
import { ChatError } from '../../lib/errors.js';
import { isValidRoomName, ROOM_NAME_RULE } from '../../lib/names.js';
import type { ControlLeaveRequest } from '../../lib/wire.js';
import { replierOf, type ControlContext } from '../control-socket.js';
import { leaveReplayKey } from '../replay-keys.js';
import { atHolder } from './route.js';
import type { LeaveDeps } from '../deps.js';

export async function leave(sup: LeaveDeps, req: ControlLeaveRequest, ctx: ControlContext): Promise<void> {
  if (!isValidRoomName(req.room)) throw new ChatError('BAD_ROOM_NAME', ROOM_NAME_RULE);
  const key = leaveReplayKey(ctx.endpoint, req.room, req.id);
  const replay = sup.replay.get(key);
  if (replay) return void replierOf(sup, ctx).sendWithin(ctx.from, ctx.budget, replay);
  if (!sup.replay.begin(key)) return; // a retry while the first is in flight: the first's reply answers both
  try {
    // Cluster mode: a room another node holds is left there.
    const remote = await atHolder(sup.cluster, req.room, req, ctx);
    if (remote) {
      if (!('reply' in remote)) return;
      sup.replay.set(key, remote.reply);
      return replierOf(sup, ctx).send(ctx.from, remote.reply);
    }
    const reply = await sup.pending.run(ctx.endpoint, () => sup.mailboxes.serialize(req.room, async () => {
      // A room-endpoint leave of this id may have been applied while we
      // waited in the mailbox: its `left` is the outcome to replay.
      const done = sup.replay.get(key);
      if (done) return done;
      const entry = sup.registry.get(req.room);
      const m = entry?.authenticate(ctx.endpoint, req.token);
      if (!entry || !m) throw new ChatError('NOT_MEMBER');
      try {
        await entry.proc?.request({ type: 'remove', member: m.member });
      } catch (err) {
        // The member is gone either way; the room may be restarting.
        sup.log.warn({ event: 'leave_unconfirmed', room: entry.name, member: m.member, err }, 'room did not confirm leave');
      }
      sup.registry.removeMember(entry, m.member);
      sup.log.info({ event: 'member_left', room: entry.name, member: m.member, nick: m.nick, via: 'control' }, 'member left');
      if (entry.members.size === 0) await sup.host.deleteRoom(entry, 'empty');
      return encode({ type: 'left', id: req.id, room: req.room });
    }));
    sup.replay.set(key, reply);
    // A valid token proves the address: `left` is not held to the budget.
    replierOf(sup, ctx).send(ctx.from, reply);
  } finally {
    sup.replay.end(key);
  }
}
