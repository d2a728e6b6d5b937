// One membership as the room sees it. The room owns lastSeen, proven, the
// endpoint it moved to and the send queue; identity (member, nick, token,
// the endpoint it joined from) comes from the supervisor, which is the
// source of truth for membership.
import { endpointKey, type Endpoint } from '../lib/endpoint.js';
import type { MemberRecord } from '../lib/ipc.js';
import type { TokenBucket } from '../lib/token-bucket.js';
import { hashToken, tokensEqual } from '../lib/tokens.js';

export class Member {
  readonly member: string;
  readonly nick: string;
  /** hashToken of its token (the room is given no raw token: lib/tokens.ts). */
  readonly tokenHash: string;
  /** The raw token, once a datagram proved it: later datagrams are compared with it, not hashed again. */
  private token: string | undefined;
  /** Where the member is: the endpoint it joined from, or the one it moved to (protocol "Address changes"). */
  address: string;
  port: number;
  endpoint: string;
  /** Which of the room's sockets (one per local address) the member last wrote to: replies leave from it. */
  via = 0;
  /** The endpoint lost to another member that moved there: no traffic until it proves a new one. */
  detached = false;
  /** The challenge outstanding for a new endpoint of this member (one at a time). */
  challenge: { nonce: string; endpoint: string; until: number } | undefined;
  /** Clock time of the last datagram carrying this member's token (a sign of life). */
  lastSeen: number;
  /** True once a datagram with the token arrived from the endpoint (protocol "Anti-amplification"). */
  proven: boolean;
  /**
   * Taken over from another node (cluster failover): it proved its address
   * there, must prove it here again before it is sent anything, and is
   * given the heartbeat deadline for that, not the unproven one (protocol
   * "Several nodes": members are not evicted for a failover's silence).
   */
  resumed = false;
  /** Encoded objects waiting for this turn's flush; see Outbox. */
  queue: Buffer[] = [];
  /** Parallel to queue: true for room events (droppable), false for replies. */
  droppable: boolean[] = [];
  /** Bytes of room events in the queue (the bounded part). */
  eventBytes = 0;
  /** Objects dropped because the queue was over its bound (the client fetches them). */
  dropped = 0;
  /** The endpoint as a sockaddr for batched sends, made on first use; false: it does not parse (dgram only). */
  sockaddr: Buffer | false | undefined = undefined;
  /** Datagrams the transport refused (socket closed). */
  sendErrors = 0;
  /** The Outbox turn this member's queue belongs to. */
  turn = 0;
  /** While >= 0, the member's queue is the turn's shared batch from this index (see Outbox). */
  sharedFrom = -1;
  present = true;
  /** The heartbeat period in force when it joined (what its `joined` said), or when its room restarted. */
  heartbeatMs = 0;
  /** Rate limits (protocol: RATE_LIMITED), created by the room with its config. */
  says: TokenBucket | undefined;
  requests: TokenBucket | undefined;
  /** Bounds the RATE_LIMITED replies themselves, so a flood does not turn into a reply flood. */
  limitedReplies: TokenBucket | undefined;
  /** Bounds the challenges sent for this member's token (rooms/room.ts). */
  challenges: TokenBucket | undefined;

  /** Whether this datagram's token is the member's, compared in constant time. */
  holds(token: string): boolean {
    if (this.token !== undefined) return tokensEqual(this.token, token);
    if (!tokensEqual(hashToken(token), this.tokenHash)) return false;
    this.token = token;
    return true;
  }

  /** What the supervisor records of it (cluster mode: reported after a takeover). */
  record(): MemberRecord {
    return { member: this.member, nick: this.nick, tokenHash: this.tokenHash, address: this.address, port: this.port, proven: this.proven };
  }

  constructor(r: MemberRecord, now: number) {
    this.member = r.member;
    this.nick = r.nick;
    this.tokenHash = r.tokenHash;
    this.address = r.address;
    this.port = r.port;
    this.endpoint = endpointKey(r);
    this.lastSeen = now;
    this.proven = r.proven ?? false;
  }
}

/** The room's members, indexed by every key a datagram or request can name. */
export class Roster {
  private readonly byToken = new Map<string, Member>();
  private readonly byEndpoint = new Map<string, Member>();
  private readonly byId = new Map<string, Member>();

  get size(): number {
    return this.byId.size;
  }

  add(m: Member): void {
    this.byToken.set(m.tokenHash, m);
    this.byEndpoint.set(m.endpoint, m);
    this.byId.set(m.member, m);
  }

  remove(m: Member): void {
    m.present = false;
    this.byToken.delete(m.tokenHash);
    if (this.byEndpoint.get(m.endpoint) === m) this.byEndpoint.delete(m.endpoint);
    this.byId.delete(m.member);
  }

  /**
   * The member is at `to` from now on. A member still indexed there lost
   * that endpoint (a NAT gave it to this one): it is detached until it
   * proves where it is now; returned so the room can say so.
   */
  move(m: Member, to: Endpoint): Member | undefined {
    if (this.byEndpoint.get(m.endpoint) === m) this.byEndpoint.delete(m.endpoint);
    const key = endpointKey(to);
    const displaced = this.byEndpoint.get(key);
    if (displaced) displaced.detached = true;
    m.address = to.address;
    m.port = to.port;
    m.endpoint = key;
    m.sockaddr = undefined;
    m.detached = false;
    m.challenge = undefined;
    this.byEndpoint.set(key, m);
    return displaced;
  }

  /** The member whose token hashes to this (lib/tokens.ts hashToken). */
  byTokenHash(hash: string): Member | undefined {
    return this.byToken.get(hash);
  }

  atEndpoint(endpoint: string): Member | undefined {
    return this.byEndpoint.get(endpoint);
  }

  get(member: string): Member | undefined {
    return this.byId.get(member);
  }

  [Symbol.iterator](): IterableIterator<Member> {
    return this.byId.values();
  }

  /** Members sorted by the bytes of their id (protocol "Order": who pages). */
  sorted(): Member[] {
    return [...this.byId.values()].sort((a, b) => (a.member < b.member ? -1 : a.member > b.member ? 1 : 0));
  }
}
