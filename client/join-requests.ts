// Join requests at the control endpoint, and what they may still bring.
// Every join (join(), a rejoin attempt) is one request under a new id,
// retried like any request (client/requests.ts), its resends jittered, at
// one control endpoint (client/control.ts).
//
// The service may grant a membership nobody waits for any more, so what is
// on the wire is remembered here, apart from the rooms' state
// (client/room-state.ts): a join can outlive the state of the room it was
// sent for.
// - A join that gave up (TIMEOUT, a refusal, close) is remembered by id for
//   ABANDONED_KEEP_MS (at most ABANDONED_MAX of them, oldest dropped first):
//   its late `joined` is a membership to place, not a duplicate answer.
// - A join attempt that was on the wire when its room adopted another
//   membership is remembered by room until it settles: the service replaces
//   an unproven membership when the same endpoint joins again, so until then
//   a NOT_MEMBER for the adopted one may only mean it was replaced.
// - giveBack() hands a membership nobody wants back at once (one
//   unacknowledged leave with its token), so it holds no nick or slot until
//   the service would drop it.
// - roomEndpoint() is where a granted membership's room is: `joined.host`
//   and `joined.port`, or, without `host`, the port at the address of the
//   control endpoint the join was sent to (protocol "joined"), remembered
//   here for every `joined` this client takes.
import { nanoid } from 'nanoid';
import type { Clock } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import type { JoinedReply } from '../lib/wire.js';
import type { ControlRequests } from './control.js';
import { endpoint, type Endpoint } from './endpoint.js';
import type { ClientTransport } from './transport.js';

/** How long the id of a join that gave up is remembered, so its late `joined` is placed; and how many are. */
const ABANDONED_KEEP_MS = 120_000;
const ABANDONED_MAX = 1_024;

export interface JoinRequestsDeps {
  clock: Clock;
  control: ControlRequests;
  transport: ClientTransport;
  /** Jitter of the resends. */
  random: () => number;
}

export class JoinRequests {
  /** Join requests that gave up, by id, and the control endpoint each went to. */
  private readonly abandoned = new Map<string, { room: string; at: number; server: Endpoint }>();
  /** The control endpoint each `joined` we took answered from. */
  private readonly grantedBy = new WeakMap<JoinedReply, Endpoint>();
  /** Join attempts on the wire that may replace the membership their room adopted, by room. */
  private readonly racing = new Map<string, Promise<JoinedReply>>();

  constructor(private readonly d: JoinRequestsDeps) {}

  /** One join request (a new id); if it gives up, its id is remembered for a while. */
  async send(room: string, nick: string, key: string | undefined): Promise<JoinedReply> {
    if (this.d.transport.ready) await this.d.transport.ready();
    const id = nanoid();
    const body = encode({ type: 'join', id, room, nick, ...(key === undefined ? {} : { key }) });
    const server = this.d.control.servers.current;
    try {
      const joined = await this.d.control.start<JoinedReply>({
        id,
        body,
        accept: (m) => (m.type === 'joined' && m.room === room ? m : undefined),
        measureRtt: false, // the reply may wait for a room process to start
        jitter: this.d.random,
      });
      this.grantedBy.set(joined, server);
      return joined;
    } catch (err) {
      this.rememberAbandoned(id, room, server);
      throw err;
    }
  }

  /** True, once, for a `joined` answering a join of ours that gave up; false for a duplicate or unknown one. */
  takeAbandoned(m: JoinedReply): boolean {
    const abandoned = this.abandoned.get(m.id);
    if (!abandoned || abandoned.room !== m.room) return false;
    this.abandoned.delete(m.id);
    this.grantedBy.set(m, abandoned.server);
    return true;
  }

  /** Where the room of a membership we were granted is. */
  roomEndpoint(joined: JoinedReply): Endpoint {
    return endpoint(joined.host ?? (this.grantedBy.get(joined) ?? this.d.control.servers.current).host, joined.port);
  }

  /** Notes a join attempt on the wire that may replace the membership `room` just adopted, until it settles. */
  raceWith(room: string, attempt: Promise<JoinedReply> | undefined): void {
    if (!attempt) return;
    this.racing.set(room, attempt);
    const done = () => {
      if (this.racing.get(room) === attempt) this.racing.delete(room);
    };
    attempt.then(done, done);
  }

  /** Whether a join of ours that may replace the room's membership is still on the wire. */
  isRacing(room: string): boolean {
    return this.racing.has(room);
  }

  giveBack(joined: JoinedReply): void {
    this.d.control.send(encode({ type: 'leave', id: nanoid(), room: joined.room, token: joined.token }));
  }

  private rememberAbandoned(id: string, room: string, server: Endpoint): void {
    const now = this.d.clock.now();
    for (const [k, v] of this.abandoned) {
      if (now - v.at < ABANDONED_KEEP_MS && this.abandoned.size < ABANDONED_MAX) break;
      this.abandoned.delete(k); // oldest first: Map order is insertion order
    }
    this.abandoned.set(id, { room, at: now, server });
  }
}
