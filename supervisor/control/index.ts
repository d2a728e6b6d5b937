// The control endpoint's command table: one handler per request type, behind
// the shared decode and schema checks in ControlSocket (control-socket.ts).
import type { ControlRequest } from '../../lib/wire.js';
import type { ControlContext } from '../control-socket.js';
import type { Supervisor } from '../supervisor.js';
import { join } from './join.js';
import { leave } from './leave.js';
import { ping } from './ping.js';
import { rooms } from './rooms.js';

export const CONTROL_HANDLERS = { join, leave, rooms, ping } as const;

export function dispatchControl(sup: Supervisor, req: ControlRequest, ctx: ControlContext): Promise<void> | void {
  switch (req.type) {
    case 'join':
      return CONTROL_HANDLERS.join(sup, req, ctx);
    case 'leave':
      return CONTROL_HANDLERS.leave(sup, req, ctx);
    case 'rooms':
      return CONTROL_HANDLERS.rooms(sup, req, ctx);
    case 'ping':
      return CONTROL_HANDLERS.ping(sup, req, ctx);
    default: {
      const never: never = req;
      throw new Error(`unhandled control request ${JSON.stringify(never)}`);
    }
  }
}
