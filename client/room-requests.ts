// Requests at a room's endpoint (say, who). A request follows the room's
// membership, not the one it started with: when the membership is replaced
// (a rejoin, or a join of ours that the service granted in place of an
// unproven one), the request goes out again under the new token at once
// (Requests.resendRoom); so it does, with the same id, when the room moves
// to another endpoint (protocol "Several nodes (cluster mode)": the room
// there answers a say it sequenced before with its original `msg`); while a rejoin runs, attempts go nowhere (they
// still count). NOT_MEMBER does not end a request by itself: whether the
// membership is really gone is the room machine's call (room-machine.ts
// membershipLost), and when it is, the room's requests fail with it. Every
// token a request went out under is noted until it settles, so a NOT_MEMBER
// answering it can be told apart: stale (about an earlier membership's
// token) or about the current one.
import type { ServerMessage } from '../lib/wire.js';
import type { Requests } from './requests.js';
import type { RoomSession } from './room-session.js';

export class RoomRequests {
  /** The tokens each room request in flight was sent with, by request id. */
  private readonly sentWith = new Map<string, Set<string>>();

  constructor(
    private readonly requests: Requests,
    /** The room's membership now, if any. */
    private readonly current: (room: string) => RoomSession | undefined,
  ) {}

  start<T>(room: string, id: string, body: Record<string, unknown>, accept: (m: ServerMessage, s: RoomSession) => T | undefined): Promise<T> {
    const current = () => this.current(room);
    return this.requests
      .start<T>({
        id,
        room,
        get sources() {
          const s = current();
          return s ? [s.endpoint] : [];
        },
        send: () => {
          const s = current();
          if (!s) return;
          const tokens = this.sentWith.get(id);
          if (tokens) tokens.add(s.token);
          else this.sentWith.set(id, new Set([s.token]));
          s.send(body);
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
