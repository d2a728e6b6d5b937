// `ping`: liveness of the control endpoint; answered fresh every time.
import { encode } from '../../lib/codec.js';
import type { ControlContext } from '../control-socket.js';
import type { Supervisor } from '../supervisor.js';

export function ping(sup: Supervisor, req: { type: 'ping'; id: string }, ctx: ControlContext): void {
  sup.control.sendWithin(ctx.from, ctx.budget, encode({ type: 'pong', id: req.id }));
}
