// `ping`: liveness of the control endpoint; answered fresh every time.
import { encode } from '../../lib/codec.js';
import type { ControlContext, Supervisor } from '../supervisor.js';

export function ping(sup: Supervisor, req: { type: 'ping'; id: string }, ctx: ControlContext): void {
  sup.sendWithin(ctx.from, ctx.budget, encode({ type: 'pong', id: req.id }));
}
