// The control endpoint's command table: one handler per request type, behind
// the shared decode and schema checks in ControlSocket (control-socket.ts).
// Each handler is typed with the narrow view of the supervisor it uses
// (deps.ts); the table's type makes a request type without a handler a
// compile error.
import type { ControlRequest } from '../../lib/wire.js';
import type { ControlContext } from '../control-socket.js';
import type { ControlDeps } from '../deps.js';
import { join } from './join.js';
import { leave } from './leave.js';
import { ping } from './ping.js';
import { rooms } from './rooms.js';
import { where } from './where.js';

type Handler<T extends ControlRequest['type']> = (sup: ControlDeps, req: Extract<ControlRequest, { type: T }>, ctx: ControlContext) => Promise<void> | void;

export const CONTROL_HANDLERS: { readonly [T in ControlRequest['type']]: Handler<T> } = { join, leave, rooms, ping, where };

export function dispatchControl(sup: ControlDeps, req: ControlRequest, ctx: ControlContext): Promise<void> | void {
  return (CONTROL_HANDLERS[req.type] as Handler<typeof req.type>)(sup, req, ctx);
}
