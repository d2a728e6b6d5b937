// Every wire message of protocol v1, declared once: the schemas give the
// TypeScript types and the runtime checks. Schemas check JSON types and
// lengths only (BAD_REQUEST); rules with their own codes (room names, nicks,
// keys) are checked by the handlers so the contract's error precedence holds.
import { arr, bool, type Infer, int, lit, obj, object, oneOf, opt, str, union } from './schema.js';
import type { ErrorCode } from './errors.js';

/** Request ids: 1-64 characters, client-chosen (protocol "Requests and idempotence"). */
const id = () => str(1, 64);
const ID = id();

/** The request's id if it is a valid one, so an error reply can name it (never echo an invalid id). */
export function echoableId(v: unknown): string | undefined {
  return ID.check(v) ? v : undefined;
}
const anyStr = () => str(0, Number.MAX_SAFE_INTEGER);
const seq = () => int(0);
const count = () => int(0);

// ---- client -> control endpoint -------------------------------------------

export const JoinRequest = object({
  type: lit('join'),
  id: id(),
  room: anyStr(),
  nick: anyStr(),
  key: opt(str(1, 64)),
});
export const ControlLeaveRequest = object({ type: lit('leave'), id: id(), room: anyStr(), token: anyStr() });
export const RoomsRequest = object({ type: lit('rooms'), id: id(), after: opt(anyStr()) });
export const PingRequest = object({ type: lit('ping'), id: id() });
/** Where a membership's room is now (protocol "Several nodes"): asked when a room stops answering. */
export const WhereRequest = object({ type: lit('where'), id: id(), room: anyStr(), token: anyStr() });

export const ControlRequest = union({
  join: JoinRequest,
  leave: ControlLeaveRequest,
  rooms: RoomsRequest,
  ping: PingRequest,
  where: WhereRequest,
});
export type ControlRequest = Infer<typeof ControlRequest>;
export type JoinRequest = Infer<typeof JoinRequest>;
export type ControlLeaveRequest = Infer<typeof ControlLeaveRequest>;
export type RoomsRequest = Infer<typeof RoomsRequest>;
export type WhereRequest = Infer<typeof WhereRequest>;

// ---- client -> room endpoint ----------------------------------------------

export const SayRequest = object({ type: lit('say'), token: anyStr(), id: id(), text: anyStr() });
/** nonce: the answer to a `challenge`, which moves the membership to this endpoint (protocol "Address changes"). */
export const HbRequest = object({ type: lit('hb'), token: anyStr(), nonce: opt(str(1, 64)) });
export const FetchRequest = object({ type: lit('fetch'), token: anyStr(), from: int(1), to: int(1) });
/** The most seqs one `fetch` is answered with (protocol "Details: Fetch"); the rest is asked for again. */
export const MAX_FETCH = 256;
export const WhoRequest = object({ type: lit('who'), token: anyStr(), id: id(), after: opt(anyStr()) });
export const RoomLeaveRequest = object({ type: lit('leave'), token: anyStr(), id: id() });

export const RoomRequest = union({
  say: SayRequest,
  hb: HbRequest,
  fetch: FetchRequest,
  who: WhoRequest,
  leave: RoomLeaveRequest,
});
export type SayRequest = Infer<typeof SayRequest>;
export type FetchRequest = Infer<typeof FetchRequest>;
export type WhoRequest = Infer<typeof WhoRequest>;
export type RoomRequest = Infer<typeof RoomRequest>;

// ---- server -> client -------------------------------------------------------

export const JoinedReply = object({
  type: lit('joined'),
  id: id(),
  room: anyStr(),
  port: int(1, 65535),
  member: anyStr(),
  token: anyStr(),
  nick: anyStr(),
  members: count(),
  seq: seq(),
  heartbeatMs: int(1),
  /** The address (a literal) of the room endpoint; absent: the address the join was sent to. */
  host: opt(str(1, 64)),
});
export const LeftReply = object({ type: lit('left'), id: id(), room: anyStr() });
const RoomEntry = object({ room: anyStr(), members: count() });
export const RoomsReply = object({
  type: lit('rooms'),
  id: id(),
  rooms: arr(obj(RoomEntry)),
  more: bool(),
});
export type RoomEntry = Infer<typeof RoomEntry>;
export const PongReply = object({ type: lit('pong'), id: id() });
/** The answer to `where`: the room endpoint of that membership now. */
export const HereReply = object({ type: lit('here'), id: id(), room: anyStr(), host: str(1, 64), port: int(1, 65535) });
export const MsgEvent = object({
  type: lit('msg'),
  room: anyStr(),
  seq: int(1),
  member: anyStr(),
  nick: anyStr(),
  text: anyStr(),
  ts: int(0),
  id: id(),
});
export const PresenceEvent = object({
  type: lit('presence'),
  room: anyStr(),
  seq: int(1),
  event: oneOf('join', 'leave', 'evict'),
  member: anyStr(),
  nick: anyStr(),
});
export const ClosedEvent = object({ type: lit('closed'), room: anyStr(), reason: anyStr() });
export const ErrorEvent = object({ type: lit('error'), code: anyStr(), message: anyStr(), id: opt(id()) });
/** A token arrived from an endpoint that is not the member's: answer with `hb` and the nonce to move there. */
export const ChallengeEvent = object({ type: lit('challenge'), room: anyStr(), nonce: anyStr() });
export const HbReply = object({ type: lit('hb'), room: anyStr(), seq: seq() });
export const FetchedReply = object({ type: lit('fetched'), room: anyStr(), from: int(1), to: int(0) });
export const GapEvent = object({ type: lit('gap'), room: anyStr(), from: int(1), to: int(1) });
const MemberEntry = object({ member: anyStr(), nick: anyStr() });
export type MemberEntry = Infer<typeof MemberEntry>;
export const MembersReply = object({
  type: lit('members'),
  id: id(),
  room: anyStr(),
  members: arr(obj(MemberEntry)),
  more: bool(),
});

export const ServerMessage = union({
  joined: JoinedReply,
  left: LeftReply,
  rooms: RoomsReply,
  pong: PongReply,
  here: HereReply,
  msg: MsgEvent,
  presence: PresenceEvent,
  closed: ClosedEvent,
  error: ErrorEvent,
  hb: HbReply,
  fetched: FetchedReply,
  gap: GapEvent,
  members: MembersReply,
  challenge: ChallengeEvent,
});
export type JoinedReply = Infer<typeof JoinedReply>;
export type LeftReply = Infer<typeof LeftReply>;
export type RoomsReply = Infer<typeof RoomsReply>;
export type PongReply = Infer<typeof PongReply>;
export type HereReply = Infer<typeof HereReply>;
export type MsgEvent = Infer<typeof MsgEvent>;
export type PresenceEvent = Infer<typeof PresenceEvent>;
export type ClosedEvent = Infer<typeof ClosedEvent>;
export type ErrorEvent = Infer<typeof ErrorEvent>;
export type HbReply = Infer<typeof HbReply>;
export type FetchedReply = Infer<typeof FetchedReply>;
export type GapEvent = Infer<typeof GapEvent>;
export type MembersReply = Infer<typeof MembersReply>;
export type ChallengeEvent = Infer<typeof ChallengeEvent>;
export type ServerMessage = Infer<typeof ServerMessage>;

/** Sequenced room events: the ones that carry `seq` and live in history. */
export type SequencedEvent = MsgEvent | PresenceEvent;

export function errorEvent(code: ErrorCode, message: string, reqId?: string): ErrorEvent {
  return reqId === undefined ? { type: 'error', code, message } : { type: 'error', code, message, id: reqId };
}
