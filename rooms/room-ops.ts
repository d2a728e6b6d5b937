// What a room-endpoint command (handlers/) may see and do of its room. The
// handlers get this, not the Room: seqs are handed out only by sequence(),
// which stages the event for the turn's journal write, and the roster
// changes only through the room's own operations.
import type { Clock } from '../lib/clock.js';
import type { Config } from '../lib/config.js';
import type { ReplayCache } from '../lib/replay-cache.js';
import type { SequencedEvent } from '../lib/wire.js';
import type { History } from './history.js';
import type { Member, Roster } from './member.js';

/** A say being sequenced: its dedupe key, and its sender (answered ROOM_UNAVAILABLE if the write fails). */
export interface SayOrigin {
  readonly key: string;
  readonly sender: Member;
}

export interface RoomOps {
  readonly name: string;
  readonly config: Config;
  readonly clock: Clock;
  /** The latest seq handed out: written to the journal and free to leave. */
  readonly seq: number;
  /** Encoded events by seq; a seq not held (never, or no longer) is a gap. */
  readonly history: Pick<History, 'get'>;
  readonly roster: Pick<Roster, 'sorted'>;
  /** The msg of each say sequenced and written, by sayKey: a retry is answered with it. */
  readonly says: Pick<ReplayCache<Buffer>, 'get'>;
  /** A say sequenced this turn but not yet written: its retry waits for the first one's answer. */
  stagedSay(key: string): Buffer | undefined;
  /**
   * Takes the next seq for the event and stages it for the turn's journal
   * write; returns the seq. An event whose encoding exceeds maxBytes is
   * refused (ChatError TOO_LARGE) before it takes a seq, so a refusal leaves
   * no hole.
   */
  sequence(event: SequencedEvent, say?: SayOrigin, maxBytes?: number): number;
  /** Sends a message to one member, in order with its events. */
  reply(m: Member, message: object): void;
  /** reply() for what is already encoded: a held event, a replayed msg. */
  resend(m: Member, encoded: Buffer): void;
  /** The member leaves through the room endpoint; `left` answers reqId. */
  leave(m: Member, reqId: string): void;
}

/** The key a say is deduped by: its sender and its request id (protocol "Idempotence"). */
export function sayKey(member: string, id: string): string {
  return `${member}\u0000${id}`;
}
