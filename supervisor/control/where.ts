// `where` (protocol "Several nodes"): where a membership's room is now. The
// token and the endpoint prove the asker (a valid token from the member's
// endpoint, or the one it moved to); the answer is the room's endpoint. A
// room that is not serving (between incarnations) is ROOM_UNAVAILABLE: the
// client asks again.
import { encode } from '../../lib/codec.js';
import { ChatError } from '../../lib/errors.js';
import { isValidRoomName, ROOM_NAME_RULE } from '../../lib/names.js';
import type { WhereRequest } from '../../lib/wire.js';
import { replierOf, type ControlContext } from '../control-socket.js';
import type { WhereDeps } from '../deps.js';
import { atHolder } from './route.js';

export async function where(sup: WhereDeps, req: WhereRequest, ctx: ControlContext): Promise<void> {
  if (!isValidRoomName(req.room)) throw new ChatError('BAD_ROOM_NAME', ROOM_NAME_RULE);
  // Cluster mode: the node holding the room checks the token against its members.
  const remote = await atHolder(sup.cluster, req.room, req, ctx);
  if (remote) {
    if ('reply' in remote) replierOf(sup, ctx).send(ctx.from, remote.reply);
    return;
  }
  const entry = sup.registry.get(req.room);
  const m = entry?.authenticate(ctx.endpoint, req.token);
  if (!entry || !m) throw new ChatError('NOT_MEMBER');
  if (entry.state !== 'running') throw new ChatError('ROOM_UNAVAILABLE', 'the room is restarting: ask again');
  // A valid token proves the address: `here` is not held to the budget.
  replierOf(sup, ctx).send(ctx.from, encode({ type: 'here', id: req.id, room: entry.name, host: sup.advertise(ctx), port: entry.port }));
}
