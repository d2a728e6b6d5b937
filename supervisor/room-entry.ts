// The supervisor's record of one room: the source of truth for its
// membership (restarts restore members from here), its key, its current
// process and its restart history.
import { createHash, timingSafeEqual } from 'node:crypto';
import type { LeaveRecord, MemberRecord } from '../lib/ipc.js';
import { tokensEqual } from '../lib/tokens.js';
import type { RoomHandle } from './room-handle.js';

export interface SupMember {
  readonly member: string;
  readonly nick: string;
  readonly nickKey: string;
  readonly token: string;
  readonly address: string;
  readonly port: number;
  readonly endpoint: string;
  proven: boolean;
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
  private readonly nicks = new Set<string>();
  private readonly keyHash: Buffer | undefined;

  constructor(
    readonly name: string,
    key: string | undefined,
    readonly journalPath: string,
  ) {
    this.keyHash = key === undefined ? undefined : hashKey(key);
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

  /** The member at this endpoint if the token is its own, compared in constant time. */
  authenticate(endpoint: string, token: string): SupMember | undefined {
    const m = this.byEndpoint.get(endpoint);
    return m && tokensEqual(m.token, token) ? m : undefined;
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
      token: m.token,
      address: m.address,
      port: m.port,
      proven: m.proven,
    }));
  }
}

function hashKey(key: string): Buffer {
  return createHash('sha256').update(key, 'utf8').digest();
}
