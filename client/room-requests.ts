// Requests at a room's endpoint (say, who). Without autoRejoin a request is
// bound to the membership it started with. With autoRejoin it follows the
// room's membership: while a rejoin runs, attempts go nowhere (they still
// count), NOT_MEMBER does not end it, and a new membership resends it at once
// (Requests.resendRoom). Every token a request went out under is noted until
// it settles, so a NOT_MEMBER answering it can be told apart: stale (about
// an earlier membership's token) or about the current one.
import type { ServerMessage } from '../lib/wire.js';
import type { Requests } from './requests.js';
import type { RoomSession } from './room-session.js';

export class RoomRequests {
  /** The tokens each room request in flight was sent with, by request id. */
  private readonly sentWith = new Map<string, Set<string>>();

  constructor(
    private readonly requests: Requests,
    private readonly followsRejoins: boolean,
    /** The room's membership now, if any. */
    private readonly current: (room: string) => RoomSession | undefined,
  ) {}

  /** `first`: the room's membership when the request starts (undefined while it is being re-joined). */
  start<T>(
    room: string,
    id: string,
    body: Record<string, unknown>,
    accept: (m: ServerMessage, s: RoomSession) => T | undefined,
    first: RoomSession | undefined,
  ): Promise<T> {
    const send = (s: RoomSession) => {
      const tokens = this.sentWith.get(id);
      if (tokens) tokens.add(s.token);
      else this.sentWith.set(id, new Set([s.token]));
      s.send(body);
    };
    if (!this.followsRejoins) {
      const s = first!;
      return this.requests
        .start<T>({ id, room, ports: [s.port], send: () => send(s), accept: (m) => accept(m, s) })
        .finally(() => this.sentWith.delete(id));
    }
    const current = () => this.current(room);
    return this.requests
      .start<T>({
        id,
        room,
        get ports() {
          const s = current();
          return s ? [s.port] : [];
        },
        send: () => {
          const s = current();
          if (s) send(s);
        },
        accept: (m) => {
          const s = current();
          return s ? accept(m, s) : undefined;
        },
        ignoreCodes: ['NOT_MEMBER'],
        waitsForRejoin: true,
      })
      .finally(() => this.sentWith.delete(id));
  }

  /** Whether request `id` (if it is one of ours in flight) also went out under a token other than `token`. */
  sentUnderOtherToken(id: string | undefined, token: string): boolean {
    const tokens = id === undefined ? undefined : this.sentWith.get(id);
    return tokens !== undefined && [...tokens].some((tok) => tok !== token);
  }
}
