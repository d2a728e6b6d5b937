// The room registry: the one owner of which rooms exist, who is in each, and
// how many rooms each client endpoint is in. Every change of membership in
// the supervisor goes through this interface, so its invariants live here:
// a member is in exactly one room entry and counted once for its endpoint
// (maxRoomsPerEndpoint) and, until it proves its address, once for its
// source address (maxUnprovenPerAddress); a room name maps to at most one
// live entry.
//
// The interface is small on purpose (create / add member / remove member /
// drop / look up / list): a directory shared by several nodes can provide
// the same one. Room states are explicit, as OTP's supervisor keeps its
// child records, and the code reads them (see RoomState).
import type { Endpoint } from '../lib/endpoint.js';
import { RoomEntry, type RoomState, type SupMember } from './room-entry.js';

export type { RoomState };

/*
 * Room states (RoomEntry.state):
 * - `starting`: created for a first join; its first process is starting.
 *   Not listed by `rooms` (it has no members yet).
 * - `running`: a process is serving it.
 * - `restarting`: its process died; the restart policy is carrying out a
 *   decision (backoff, new incarnation). Members are kept.
 * - `deleting`: leaving the registry (empty, shut down, or given up); no
 *   longer found by name, so a join makes a new room.
 * - `gone`: out of the registry; an async step that still holds the entry
 *   must stop.
 */
export interface RoomRegistry {
  /** A new room in state `starting`; its name must be free. */
  create(name: string, key: string | undefined, journalPath: string, keyHashHex?: string): RoomEntry;
  /** The live room of that name (not being deleted). */
  get(name: string): RoomEntry | undefined;
  /** Whether this entry is still the registry's room of its name: an async step may have outlived it. */
  isCurrent(entry: RoomEntry): boolean;
  /** Moves a live room to another state (not `deleting`/`gone`: see beginDelete and drop). */
  setState(entry: RoomEntry, state: 'running' | 'restarting'): void;
  addMember(entry: RoomEntry, m: SupMember): void;
  /** Takes a member out; returns it, or undefined if it was not there. */
  removeMember(entry: RoomEntry, member: string): SupMember | undefined;
  /** The member's endpoint proved its address: kept for restarts, no longer counted as unproven. */
  markProven(m: SupMember): void;
  /** The member moved to another endpoint (its limits stay counted against the one that joined). */
  moveMember(entry: RoomEntry, m: SupMember, to: Endpoint): void;
  /** The name is free from now (a join creates a new room); the members stay until drop. */
  beginDelete(entry: RoomEntry): void;
  /** Out of the registry, with every member. */
  drop(entry: RoomEntry): void;
  /** Rooms found by name (starting, running, restarting), in no particular order. */
  list(): RoomEntry[];
  /** Rooms found by name: starting, running or restarting (the service-wide maxRooms counts them). */
  readonly size: number;
  /** Rooms this endpoint is a member of. */
  roomsOf(endpoint: string): number;
}

/** Counts unproven memberships per source address (owned by the control limits). */
export interface UnprovenCounter {
  sub(address: string): void;
}

/** The registry of a single node: plain maps in the supervisor's memory. */
export class LocalRegistry implements RoomRegistry {
  private readonly rooms = new Map<string, RoomEntry>();
  private readonly endpointRooms = new Map<string, number>();

  constructor(private readonly unproven: UnprovenCounter) {}

  create(name: string, key: string | undefined, journalPath: string, keyHashHex?: string): RoomEntry {
    if (this.rooms.has(name)) throw new Error(`registry: room ${name} exists`);
    const entry = new RoomEntry(name, key, journalPath, keyHashHex);
    this.rooms.set(name, entry);
    return entry;
  }

  get(name: string): RoomEntry | undefined {
    return this.rooms.get(name);
  }

  isCurrent(entry: RoomEntry): boolean {
    return entry.state !== 'deleting' && entry.state !== 'gone' && this.rooms.get(entry.name) === entry;
  }

  setState(entry: RoomEntry, state: 'running' | 'restarting'): void {
    if (this.isCurrent(entry)) entry.state = state;
  }

  addMember(entry: RoomEntry, m: SupMember): void {
    entry.add(m);
    this.endpointRooms.set(m.endpoint, (this.endpointRooms.get(m.endpoint) ?? 0) + 1);
  }

  removeMember(entry: RoomEntry, member: string): SupMember | undefined {
    const m = entry.members.get(member);
    if (!m) return undefined;
    entry.remove(m);
    if (!m.proven) this.unproven.sub(m.address);
    const n = (this.endpointRooms.get(m.endpoint) ?? 1) - 1;
    if (n <= 0) this.endpointRooms.delete(m.endpoint);
    else this.endpointRooms.set(m.endpoint, n);
    return m;
  }

  markProven(m: SupMember): void {
    if (m.proven) return;
    m.proven = true;
    this.unproven.sub(m.address);
  }

  moveMember(entry: RoomEntry, m: SupMember, to: Endpoint): void {
    if (entry.members.get(m.member) === m) entry.move(m, to);
  }

  beginDelete(entry: RoomEntry): void {
    if (entry.state === 'gone') return;
    entry.state = 'deleting';
    if (this.rooms.get(entry.name) === entry) this.rooms.delete(entry.name);
  }

  drop(entry: RoomEntry): void {
    for (const m of [...entry.members.keys()]) this.removeMember(entry, m);
    if (this.rooms.get(entry.name) === entry) this.rooms.delete(entry.name);
    entry.state = 'gone';
  }

  list(): RoomEntry[] {
    return [...this.rooms.values()];
  }

  get size(): number {
    return this.rooms.size;
  }

  roomsOf(endpoint: string): number {
    return this.endpointRooms.get(endpoint) ?? 0;
  }
}
