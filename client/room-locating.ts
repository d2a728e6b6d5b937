// Which membership's room is being located (client/locate.ts), and when. A
// membership whose room went silent (quiet or unresponsive:
// client/room-session.ts) while its room is joined gets one series of
// `where`s, held in its RoomState (client/room-state.ts), until the room is
// heard again (stop()), the series finds it elsewhere or finds the
// membership gone, or the membership ends (stop(), from the owner). What a
// series finds is not decided here: a new endpoint goes to moved(), a
// membership gone to gone(), a series that gives up to failed(), each with
// the membership it was for.
import { nanoid } from 'nanoid';
import type { Clock } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import type { HereReply } from '../lib/wire.js';
import type { ClientError } from './client-error.js';
import type { ControlRequests } from './control.js';
import type { Endpoint } from './endpoint.js';
import { Locate, WHERE_ATTEMPTS } from './locate.js';
import type { RoomSession } from './room-session.js';
import type { RoomState, RoomTable } from './room-state.js';
import type { Counters } from './stats.js';

export interface RoomLocatingDeps {
  clock: Clock;
  table: RoomTable;
  control: ControlRequests;
  counters: Counters;
  /** How long a series goes without a `here` before it gives up, for membership s. */
  giveUpMs(s: RoomSession): number;
  /** Whether new series may start (the client is open). */
  mayStart(): boolean;
  moved(s: RoomSession, to: Endpoint): void;
  gone(s: RoomSession): void;
  failed(s: RoomSession, error: ClientError): void;
}

export class RoomLocating {
  constructor(private readonly d: RoomLocatingDeps) {}

  /** Membership s went silent: locate its room, if it is its room's and not being located already. */
  begin(s: RoomSession): void {
    const st = this.d.table.get(s.room);
    if (!this.d.mayStart() || st?.status !== 'joined' || st.session !== s || st.locate) return;
    const l: Locate = new Locate({
      clock: this.d.clock,
      heartbeatMs: s.heartbeatMs,
      giveUpMs: this.d.giveUpMs(s),
      at: () => s.endpoint,
      ask: () => this.ask(s),
      moved: (_, to) => this.settled(st, l, () => this.d.moved(s, to)),
      gone: () => this.settled(st, l, () => this.d.gone(s)),
      failed: (_, error) => this.settled(st, l, () => this.d.failed(s, error)),
    });
    this.d.table.locating(st, l);
    l.start();
  }

  /** No more `where`s for the room's membership. */
  stop(st: RoomState): void {
    st.locate?.stop();
    if (st.locate) this.d.table.locating(st, undefined);
  }

  private settled(st: RoomState, l: Locate, then: () => void): void {
    if (st.locate === l) this.d.table.locating(st, undefined);
    then();
  }

  private ask(s: RoomSession): Promise<HereReply> {
    this.d.counters.probes++;
    const id = nanoid();
    return this.d.control.start<HereReply>({
      id,
      body: encode({ type: 'where', id, room: s.room, token: s.token }),
      accept: (m) => (m.type === 'here' && m.room === s.room ? m : undefined),
      maxAttempts: WHERE_ATTEMPTS,
    });
  }
}
