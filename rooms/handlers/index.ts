// The room endpoint's command table: one handler per request type. The
// checks every request shares (size, JSON, token, endpoint, schema) are done
// once in Room.handleDatagram before any handler runs.
import { fetch } from './fetch.js';
import { hb } from './hb.js';
import { leave } from './leave.js';
import { say } from './say.js';
import { who } from './who.js';

export const ROOM_HANDLERS = { say, hb, fetch, who, leave } as const;
