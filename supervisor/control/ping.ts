// `ping`: liveness of the control endpoint; answered fresh every time.
import { encode } from '../../lib/codec.js';
import { replierOf, type ControlContext } from '../control-socket.js';
import type { PingDeps } from '../deps.js';

export function ping(sup: PingDeps, req: { type: 'ping'; id: string }, ctx: ControlContext): void {
  replierOf(sup, ctx).sendWithin(ctx.from, ctx.budget, encode({ type: 'pong', id: req.id }));
}
