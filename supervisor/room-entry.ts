// The supervisor's record of one room: the source of truth for its
// membership (restarts restore members from here), its key, its current
// process and its restart history.
import { createHash, timingSafeEqual } from 'node:crypto';
import { endpointKey, type Endpoint } from '../lib/endpoint.js';
import type { LeaveRecord, MemberRecord } from '../lib/ipc.js';
import { hashToken, tokensEqual } from '../lib/tokens.js';
import type { RoomHandle } from './room-handle.js';

export interface SupMember {
  readonly member: string;
  readonly nick: string;
  readonly nickKey: string;
  /** hashToken of its token: the raw token is only in the `joined` reply. */
  readonly tokenHash: string;
  /** The endpoint that joined: counted against its limits for the membership's life. */
  readonly address: string;
  readonly port: number;
  readonly endpoint: string;
  /** Which control socket (local address) the join arrived at: the control endpoint's own messages leave from it. */
  readonly via: number;
  proven: boolean;
  /** Where the room last saw the member, when it moved from the endpoint that joined (protocol "Address changes"). */
  moved?: Endpoint & { readonly endpoint: string };
}

/** Where a room is in its life; the registry (registry.ts) documents each state and moves it. */
export type RoomState = 'starting' | 'running' | 'restarting' | 'deleting' | 'gone';

export class RoomEntry {
  state: RoomState = 'starting';
  proc: RoomHandle | undefined;
  /** The room's UDP port, kept for its whole life, restarts included. */
  port = 0;
  incarnation = 0;
  /**
   * The highest seq any incarnation may have handed out: the room asks for
   * this to be raised before it goes beyond it, so it survives every crash
   * of the room (protocol "Durability": a seq is never handed out twice).
   */
  seqCeiling = 0;
  /** Times of recent restarts, for the intensity window. */
  restarts: number[] = [];
  readonly members = new Map<string, SupMember>();
  /** Room-endpoint leaves within the idempotence window, handed to restarted incarnations. */
  recentLeaves: LeaveRecord[] = [];
  private readonly byEndpoint = new Map<string, SupMember>();
  /** Members by the endpoint they moved to: the control endpoint accepts their token there too. */
  private readonly byMovedEndpoint = new Map<string, SupMember>();
  private readonly nicks = new Set<string>();
  private readonly keyHash: Buffer | undefined;

  /**
   * Cluster mode: this node took the room over from its journal (failover);
   * the next incarnation learns the members from there, not from here.
   */
  adopt = false;
  /** Cluster mode: another node holds the room now; its process is stopping quietly. */
  released = false;

  constructor(
    readonly name: string,
    key: string | undefined,
    readonly journalPath: string,
    /** The key's hash (hex) when the key itself is not known: a room taken over from another node. */
    keyHashHex?: string,
  ) {
    this.keyHash = key !== undefined ? hashKey(key) : keyHashHex !== undefined ? Buffer.from(keyHashHex, 'hex') : undefined;
  }

  /** The key's hash (hex), as the cluster directory keeps it. */
  get keyHashHex(): string | undefined {
    return this.keyHash?.toString('hex');
  }

  get hasKey(): boolean {
    return this.keyHash !== undefined;
  }

  /** Room keys (protocol "Room keys"): a key must match exactly, and a key given to a keyless room is refused too. */
  keyMatches(key: string | undefined): boolean {
    if (this.keyHash === undefined || key === undefined) return this.keyHash === undefined && key === undefined;
    return timingSafeEqual(this.keyHash, hashKey(key)); // equal-length digests: constant time
  }

  hasNick(nickKey: string): boolean {
    return this.nicks.has(nickKey);
  }

  atEndpoint(endpoint: string): SupMember | undefined {
    return this.byEndpoint.get(endpoint);
  }

  /**
   * The member whose token this is, if the endpoint is the one that joined
   * or the one it moved to (protocol "Address changes"), compared in
   * constant time.
   */
  authenticate(endpoint: string, token: string): SupMember | undefined {
    const hash = hashToken(token);
    for (const m of [this.byEndpoint.get(endpoint), this.byMovedEndpoint.get(endpoint)]) {
      if (m && tokensEqual(m.tokenHash, hash)) return m;
    }
    return undefined;
  }

  /** The member is at `to` now (the room saw it answer a challenge there). */
  move(m: SupMember, to: Endpoint): void {
    if (m.moved && this.byMovedEndpoint.get(m.moved.endpoint) === m) this.byMovedEndpoint.delete(m.moved.endpoint);
    const endpoint = endpointKey(to);
    if (endpoint === m.endpoint) delete m.moved;
    else {
      m.moved = { address: to.address, port: to.port, endpoint };
      this.byMovedEndpoint.set(endpoint, m);
    }
  }

  /** Only through the registry (registry.ts), which keeps the counts beside it. */
  add(m: SupMember): void {
    this.members.set(m.member, m);
    this.byEndpoint.set(m.endpoint, m);
    this.nicks.add(m.nickKey);
  }

  remove(m: SupMember): void {
    this.members.delete(m.member);
    this.byEndpoint.delete(m.endpoint);
    if (m.moved && this.byMovedEndpoint.get(m.moved.endpoint) === m) this.byMovedEndpoint.delete(m.moved.endpoint);
    this.nicks.delete(m.nickKey);
  }

  rememberLeave(l: LeaveRecord, windowMs: number): void {
    this.recentLeaves = this.recentLeaves.filter((x) => l.at - x.at < windowMs);
    this.recentLeaves.push(l);
  }

  records(): MemberRecord[] {
    return [...this.members.values()].map((m) => ({
      member: m.member,
      nick: m.nick,
      tokenHash: m.tokenHash,
      // A restarted room knows the member where it is now.
      address: (m.moved ?? m).address,
      port: (m.moved ?? m).port,
      proven: m.proven,
    }));
  }
}

/** The key's hash as the cluster directory keeps it (hex). */
export function keyHashHex(key: string | undefined): string | undefined {
  return key === undefined ? undefined : hashKey(key).toString('hex');
}

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}
