// Cluster mode: a control request for a room another node holds is run at
// that node (supervisor/cluster/forwarding.ts) and its answer comes back
// here, to be sent from the control endpoint the client wrote to.
import { ChatError } from '../../lib/errors.js';
import type { ControlRequest } from '../../lib/wire.js';
import type { ControlContext } from '../control-socket.js';
import type { ClusterPort } from '../deps.js';

/**
 * The answer of the node holding the room, or undefined when this node
 * holds it (or nobody does: `free`) and must answer itself. A request
 * forwarded to this node is never forwarded again: if the room moved on
 * meanwhile, the client is told to ask again.
 */
export async function atHolder(cluster: ClusterPort | undefined, room: string, req: ControlRequest, ctx: ControlContext): Promise<{ reply: Buffer } | { nothing: true } | undefined> {
  if (!cluster) return undefined;
  const route = cluster.route(room);
  switch (route.kind) {
    case 'local':
    case 'free':
      return undefined;
    case 'unavailable':
      throw new ChatError('ROOM_UNAVAILABLE', 'the room is moving to another node: ask again');
    case 'remote': {
      if (ctx.forwarded) throw new ChatError('ROOM_UNAVAILABLE', 'the room moved: ask again');
      const out = await cluster.forward(route.node, req, ctx.from, ctx.bytes);
      if ('error' in out) throw new ChatError(out.error.code, out.error.message);
      return out;
    }
    default: {
      const never: never = route;
      throw new Error(`unhandled route ${JSON.stringify(never)}`);
    }
  }
}
