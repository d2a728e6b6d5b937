// `join`: checks in the contract's precedence (protocol "Error precedence"),
// forks the room on first join, and answers only once the room holds the
// member. Inside the room's mailbox, admission runs as named steps in
// series (JOIN_STEPS), each of which may refuse; then the member is added.
// A membership of the same endpoint that has not proven its address is
// replaced, not defended (protocol "An unproven membership is replaced"); a
// join whose client has moved on (a newer join from its endpoint for the
// room is waiting) or that waited past joinQueueTimeoutMs is dropped before
// it costs a membership nobody awaits.
import { nanoid } from 'nanoid';
import { encode } from '../../lib/codec.js';
import { hashToken } from '../../lib/tokens.js';
import { ChatError } from '../../lib/errors.js';
import { isValidRoomName, KEY_MISSING, KEY_UNWANTED, KEY_WRONG, NICK_RULE, nickKey, normalizeNick, ROOM_NAME_RULE } from '../../lib/names.js';
import type { JoinedReply, JoinRequest } from '../../lib/wire.js';
import { SilentDrop } from '../control-limits.js';
import { replierOf, type ControlContext } from '../control-socket.js';
import type { JoinDeps } from '../deps.js';
import { joinReplayKey } from '../replay-keys.js';
import { atHolder } from './route.js';
import type { RoomEntry, SupMember } from '../room-entry.js';

/** 126+ bits (protocol: tokens are nanoids of at least 21 characters). */
const TOKEN_CHARS = 24;
const MEMBER_ID_CHARS = 10;
/** A successful `joined` may use max(512, 3x the join) bytes (protocol "Details: Size"). */
const JOINED_ALLOWANCE = 512;

export async function join(sup: JoinDeps, req: JoinRequest, ctx: ControlContext): Promise<void> {
  const key = joinReplayKey(ctx.endpoint, req.room, req.id);
  const replay = sup.replay.get(key);
  if (replay) return void sendJoined(sup, ctx, replay);
  if (!isValidRoomName(req.room)) throw new ChatError('BAD_ROOM_NAME', ROOM_NAME_RULE);
  const nick = normalizeNick(req.nick);
  if (nick === null) throw new ChatError('BAD_NICK', NICK_RULE);
  if (!sup.running()) throw new ChatError('SHUTTING_DOWN');
  if (!sup.replay.begin(key)) return; // a retry while the first is in flight: the first's reply answers both
  const arrived = sup.clock.now();
  const latest = latestJoinKey(ctx.endpoint, req.room);
  try {
    // Cluster mode: a room another node holds is joined there.
    const remote = await atHolder(sup.cluster, req.room, req, ctx);
    if (remote) {
      if (!('reply' in remote)) return;
      sup.replay.set(key, remote.reply);
      return sendJoined(sup, ctx, remote.reply);
    }
    const { reply, logged } = await sup.pending.run(ctx.endpoint, async () => {
      sup.latestJoins.set(latest, req.id);
      try {
        return await sup.mailboxes.serialize(req.room, () => admit(sup, { req, nick, nickKey: nickKey(nick), ctx, arrived, ip: ctx.from.address }));
      } finally {
        if (sup.latestJoins.get(latest) === req.id) sup.latestJoins.delete(latest);
      }
    });
    sup.replay.set(key, reply);
    sendJoined(sup, ctx, reply);
    // Logged after the reply is on its way: the joiner does not wait for the log line.
    sup.log.info(logged, 'member joined');
  } finally {
    sup.replay.end(key);
  }
}

/** One join on its way through admission; the steps fill in what they learn. */
export interface JoinAttempt {
  readonly req: JoinRequest;
  readonly nick: string;
  readonly nickKey: string;
  readonly ctx: ControlContext;
  /** When the join arrived (monotonic ms). */
  readonly arrived: number;
  readonly ip: string;
  /** The room, if it exists. */
  existing?: RoomEntry;
  /** This endpoint's unproven membership of the room, to be replaced. */
  mine?: SupMember;
}

type JoinStep = (sup: JoinDeps, a: JoinAttempt) => void;

/**
 * Admission, in the contract's error precedence (RATE_LIMITED last). Each
 * step refuses by throwing (ChatError: answered; SilentDrop: not); none has
 * side effects until `spend`, so a refused join spends no tokens.
 */
export const JOIN_STEPS: ReadonlyArray<readonly [name: string, step: JoinStep]> = [
  ['running', (sup) => {
    if (!sup.running()) throw new ChatError('SHUTTING_DOWN');
  }],
  ['still wanted', (sup, a) => {
    // Work for a join its client no longer waits for would only make a
    // membership to be replaced or evicted (and presence events for everyone).
    if (sup.latestJoins.get(latestJoinKey(a.ctx.endpoint, a.req.room)) !== a.req.id) {
      throw new SilentDrop('join_superseded', 'a newer join from the same endpoint for the same room is waiting: dropped');
    }
    if (sup.clock.now() - a.arrived > sup.config.joinQueueTimeoutMs) {
      throw new SilentDrop('join_expired', `join waited over ${sup.config.joinQueueTimeoutMs} ms for its room: dropped`);
    }
  }],
  ['own membership', (sup, a) => {
    a.existing = sup.registry.get(a.req.room);
    // An unproven membership of this endpoint is replaced: the steps below see the room without it.
    const mine = a.existing?.atEndpoint(a.ctx.endpoint);
    if (mine?.proven) throw new ChatError('ALREADY_JOINED');
    if (mine) a.mine = mine;
  }],
  ['key', (sup, a) => {
    const room = a.existing;
    if (!room) return;
    // A source that gave wrong keys too often gets no more guesses evaluated.
    if (room.hasKey && !sup.limits.badKey.has(a.ip)) throw new SilentDrop('key_guessing', 'too many wrong room keys: join dropped');
    if (!room.keyMatches(a.req.key)) {
      if (room.hasKey) sup.limits.badKey.take(a.ip);
      // Which of the three it is, never anything about the key itself.
      if (!room.hasKey) throw new ChatError('BAD_KEY', KEY_UNWANTED);
      throw new ChatError('BAD_KEY', a.req.key === undefined ? KEY_MISSING : KEY_WRONG);
    }
  }],
  ['nick', (_sup, a) => {
    if (a.existing?.hasNick(a.nickKey) && a.mine?.nickKey !== a.nickKey) throw new ChatError('NICK_TAKEN');
  }],
  ['room size', (sup, a) => {
    const replacing = a.mine ? 1 : 0;
    if (a.existing && a.existing.members.size - replacing >= sup.config.maxMembersPerRoom) throw new ChatError('ROOM_FULL');
    if (!a.existing && sup.registry.size >= sup.config.maxRooms) throw new ChatError('TOO_MANY_ROOMS', 'the service has as many rooms as it allows');
  }],
  ['rooms per endpoint', (sup, a) => {
    const c = sup.config;
    if (sup.registry.roomsOf(a.ctx.endpoint) - (a.mine ? 1 : 0) >= c.maxRoomsPerEndpoint) {
      throw new ChatError('TOO_MANY_ROOMS', `an endpoint may be in at most ${c.maxRoomsPerEndpoint} rooms`);
    }
  }],
  ['rate', (sup, a) => {
    const c = sup.config;
    if (a.existing && !sup.limits.join.has(a.ip)) throw new ChatError('RATE_LIMITED', `over ${c.joinRatePerSec} joins/s`);
    if (!a.existing && !sup.limits.create.has(a.ip)) throw new ChatError('RATE_LIMITED', `over ${c.roomCreateRatePerSec} new rooms/s`);
    if (!sup.limits.exempt(a.ip) && sup.limits.unproven.count(a.ip) - (a.mine ? 1 : 0) >= c.maxUnprovenPerAddress) {
      throw new ChatError('RATE_LIMITED', `${c.maxUnprovenPerAddress} joins from this address have not proven it yet`);
    }
  }],
  ['spend', (sup, a) => {
    if (a.existing) sup.limits.join.take(a.ip);
    else sup.limits.create.take(a.ip);
    // Counted from now, so joins in progress count too; released on failure,
    // else when the member proves its address or goes (the registry).
    sup.limits.unproven.add(a.ip);
  }],
];

async function admit(sup: JoinDeps, a: JoinAttempt): Promise<{ reply: Buffer; logged: Record<string, unknown> }> {
  for (const [, step] of JOIN_STEPS) step(sup, a);
  let admitted = false;
  try {
    const joined = await addMember(sup, a);
    admitted = true;
    return joined;
  } finally {
    if (!admitted) sup.limits.unproven.sub(a.ip);
  }
}

async function addMember(sup: JoinDeps, a: JoinAttempt): Promise<{ reply: Buffer; logged: Record<string, unknown> }> {
  const { req, nick, ctx, existing, mine } = a;
  if (existing && mine) await replace(sup, existing, mine);
  const entry = existing ?? (await createOrRefuse(sup, req));
  const token = nanoid(TOKEN_CHARS);
  const m: SupMember = {
    member: newMemberId(entry),
    nick,
    nickKey: a.nickKey,
    tokenHash: hashToken(token),
    address: ctx.from.address,
    port: ctx.from.port,
    endpoint: ctx.endpoint,
    via: ctx.from.via,
    proven: false,
  };
  let added;
  try {
    added = await entry.proc!.request({
      type: 'add',
      record: { member: m.member, nick: m.nick, tokenHash: m.tokenHash, address: m.address, port: m.port },
    });
  } catch (err) {
    // The room may have added the member and answered too late: take it out
    // again so no ghost holds the nick or the endpoint until eviction.
    entry.proc?.request({ type: 'remove', member: m.member }).catch(() => {});
    if (entry.members.size === 0) await sup.host.deleteRoom(entry, 'empty');
    throw err;
  }
  if (added.type !== 'added') throw new ChatError('INTERNAL', 'unexpected reply from room');
  if (!sup.running()) {
    // Shutdown began while the room was adding the member: this member would
    // never hear `closed` (it has not proven its address yet), so undo it.
    entry.proc?.request({ type: 'remove', member: m.member }).catch(() => {});
    throw new ChatError('SHUTTING_DOWN');
  }
  sup.registry.addMember(entry, m);
  const reply: JoinedReply = {
    type: 'joined',
    id: req.id,
    room: entry.name,
    port: entry.port,
    member: m.member,
    token,
    nick,
    members: added.members,
    seq: added.seq,
    heartbeatMs: sup.config.heartbeatMs,
    // The room is bound to the address the join came to (one socket per address);
    // in cluster mode it may be on another node: always named.
    ...(sup.cluster ? { host: sup.cluster.advertise } : ctx.local === undefined ? {} : { host: ctx.local }),
  };
  const logged = { event: 'member_joined', room: entry.name, member: m.member, nick, from: ctx.endpoint, seq: added.seq, ...(mine ? { replaced: mine.member } : {}) };
  return { reply: encode(reply), logged };
}

/**
 * Takes out the endpoint's unproven membership before its new one is added.
 * The room has the last word on proof (a datagram may have proven it since
 * the supervisor last heard): then the membership stays and the join is
 * ALREADY_JOINED after all.
 */
async function replace(sup: JoinDeps, entry: RoomEntry, old: SupMember): Promise<void> {
  const r = await entry.proc!.request({ type: 'remove', member: old.member, ifUnproven: true });
  if (r.type !== 'removed') throw new ChatError('INTERNAL', 'unexpected reply from room');
  if (r.proven) {
    sup.registry.markProven(old);
    throw new ChatError('ALREADY_JOINED');
  }
  sup.registry.removeMember(entry, old.member);
  sup.log.info({ event: 'member_left', room: entry.name, member: old.member, nick: old.nick, via: 'replaced' }, 'unproven membership replaced by a new join');
}

/** One key per endpoint and room: the join its client sent last. */
function latestJoinKey(endpoint: string, room: string): string {
  return `${endpoint}\u0000${room}`;
}

async function createOrRefuse(sup: JoinDeps, req: JoinRequest): Promise<RoomEntry> {
  try {
    return await sup.host.createRoom(req.room, req.key);
  } catch (err) {
    throw sup.running() ? err : new ChatError('SHUTTING_DOWN');
  }
}

function sendJoined(sup: JoinDeps, ctx: ControlContext, reply: Buffer): void {
  // joined is exempt from the 3x rule up to 512 bytes; our joined replies
  // stay under that for every valid join (test/join-size.test.ts).
  if (reply.length > JOINED_ALLOWANCE && !ctx.budget.take(reply.length)) return;
  replierOf(sup, ctx).send(ctx.from, reply);
}

function newMemberId(entry: RoomEntry): string {
  for (;;) {
    const id = nanoid(MEMBER_ID_CHARS);
    if (!entry.members.has(id)) return id;
  }
}
