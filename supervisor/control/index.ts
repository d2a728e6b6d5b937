// The control endpoint's command table: one handler per request type, behind
// the shared decode and schema checks in Supervisor.onDatagram.
import { join } from './join.js';
import { leave } from './leave.js';
import { ping } from './ping.js';
import { rooms } from './rooms.js';

export const CONTROL_HANDLERS = { join, leave, rooms, ping } as const;
