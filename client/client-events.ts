// What a ChatClient tells its application: the events it emits and the
// records they carry. Every part that emits goes through one Fire function
// (ChatClient.fire), so a throwing listener never breaks delivery.
import type { MemberEntry, MsgEvent, PresenceEvent, RoomEntry } from '../lib/wire.js';
import type { ClientError } from './client-error.js';
import type { RejoiningInfo } from './rejoin.js';
import type { GapInfo } from './room-session.js';

export type { MsgEvent, PresenceEvent, RoomEntry, MemberEntry };

export interface JoinInfo {
  room: string;
  member: string;
  nick: string;
  port: number;
  members: number;
  seq: number;
  heartbeatMs: number;
  /** The room endpoint's address, when the service names it (joined.host). */
  host?: string;
}

export interface MovedInfo {
  room: string;
  /** The room endpoint now. */
  host: string;
  port: number;
  /** The room endpoint before. */
  from: { host: string; port: number };
}

export interface RejoinedInfo {
  room: string;
  /** The new membership's joined.seq: delivery goes on after it, as for any new member. */
  seq: number;
  /** The last seq the lost membership delivered in order. */
  previousSeq: number;
}

export interface RejoinFailedInfo {
  room: string;
  /** Why the last attempt failed (BAD_KEY, NICK_TAKEN, TIMEOUT, ...). */
  error: ClientError;
}

export interface ChatClientEvents {
  message: [MsgEvent];
  presence: [PresenceEvent];
  /** The room is gone. With autoRejoin, `crashed` is not reported here: 'rejoining' is. */
  closed: [{ room: string; reason: string }];
  gap: [GapInfo];
  /**
   * The room answered NOT_MEMBER to our token (usually an eviction); emitted
   * together with 'membership-lost'. With autoRejoin, 'rejoining' is emitted instead.
   */
  evicted: [{ room: string }];
  'membership-lost': [{ room: string }];
  /**
   * No hb reply for 3 heartbeat periods: the room process or its host may be
   * dead or unreachable. (The client asks a control endpoint where the room
   * is long before that, as soon as a datagram to the room goes unanswered
   * for a few retry delays: 'moved' follows if it is elsewhere, and the loss
   * of the membership, as for an eviction, if it is gone.)
   */
  unresponsive: [{ room: string }];
  /** An unresponsive room answers again. */
  responsive: [{ room: string }];
  /**
   * The room is at another endpoint, under the same membership (protocol
   * "Several nodes (cluster mode)": its node died and another resumed it).
   * The client goes on there: an hb at once, what was missed is fetched and
   * delivered in order, a say() waiting for its ack is sent there again
   * with the same id. Nothing is lost.
   */
  moved: [MovedInfo];
  /**
   * autoRejoin: the membership was lost (`reason`), and join attempt
   * `attempt` follows after delayMs. Emitted at once on the loss (attempt 1)
   * and before every further attempt. Meanwhile the room stays in
   * joinedRooms() and say()/who() wait for the new membership.
   */
  rejoining: [RejoiningInfo];
  /**
   * autoRejoin: a new membership holds the room; events flow from its own
   * joined.seq (`seq`). Follows 'rejoining', or, without it, a late
   * `joined` that replaced the old membership. Anything the room
   * sequenced after previousSeq and up
   * to `seq` may be lost to the application: it is not fetched, because a
   * room that was given up and created again restarts its seq at 1, so old
   * seqs could name other events. No 'gap' is made up for it: this event is
   * the notice. A say() that was in flight at the loss is sent again under
   * the new membership, so it may appear twice if the room had sequenced it
   * before the loss and only its echo was lost.
   */
  rejoined: [RejoinedInfo];
  /**
   * autoRejoin gave up (a final refusal such as BAD_KEY, or maxAttempts
   * spent by a rejoin, or no control endpoint told where a silent room is
   * for maxAttempts unresponsive periods): the room is dropped locally,
   * waiting say()s fail with NOT_JOINED.
   */
  'rejoin-failed': [RejoinFailedInfo];
  error: [Error];
}

/** Emits an event to the application; a throwing listener is reported, never rethrown. */
export type Fire = <K extends Exclude<keyof ChatClientEvents, 'error'>>(event: K, ...args: ChatClientEvents[K]) => void;
