// /nick: the protocol has no rename, so a new nick means leaving each joined
// room and joining it again under the new one. A room where the nick is
// taken is not left (checked with who first); if the nick is taken between
// the check and the join, the old nick is joined again.
import { NICK_RULE, nickKey, normalizeNick } from '../lib/names.js';
import { ClientError } from './client-error.js';
import type { JoinInfo, MemberEntry } from './client-events.js';
import { safe } from './cli-format.js';

export interface NickDeps {
  joinedRooms(): string[];
  who(room: string): Promise<MemberEntry[]>;
  leave(room: string): Promise<void>;
  join(room: string, nick: string): Promise<JoinInfo>;
  /** A line about the room (`[room] * ...`). */
  notice(room: string, text: string): void;
  /** A line about no room in particular. */
  note(text: string): void;
  describe(err: unknown): string;
}

/** Resolves with the nick later joins use: the new one unless every joined room refused it. */
export async function changeNick(d: NickDeps, oldNick: string, typed: string | undefined): Promise<string> {
  const wanted = typed === undefined ? null : normalizeNick(typed);
  if (wanted === null) {
    d.note(typed === undefined ? 'usage: /nick NEW' : `bad nick "${safe(typed)}": ${NICK_RULE}`);
    return oldNick;
  }
  if (wanted === oldNick) {
    d.note(`you are ${safe(oldNick)} already`);
    return oldNick;
  }
  const rooms = d.joinedRooms();
  if (rooms.length === 0) {
    d.note(`you are now ${safe(wanted)} (in the rooms you join from now on)`);
    return wanted;
  }
  let taken = 0;
  for (const room of rooms) if (!(await renameIn(d, room, oldNick, wanted))) taken++;
  if (taken === rooms.length) return oldNick;
  return wanted;
}

/** True when the room now has us under the new nick. */
async function renameIn(d: NickDeps, room: string, oldNick: string, wanted: string): Promise<boolean> {
  const mine = nickKey(oldNick);
  try {
    const holder = (await d.who(room)).find((m) => nickKey(m.nick) === nickKey(wanted) && nickKey(m.nick) !== mine);
    if (holder) {
      d.notice(room, `the nick ${safe(wanted)} is taken here; you stay ${safe(oldNick)}`);
      return false;
    }
    await d.leave(room);
  } catch (err) {
    d.notice(room, `could not change your nick here (${d.describe(err)}); you stay ${safe(oldNick)}`);
    return false;
  }
  try {
    await d.join(room, wanted);
    d.notice(room, `you are now ${safe(wanted)} (left and joined again: the protocol has no rename)`);
    return true;
  } catch (err) {
    const why = err instanceof ClientError && err.code === 'NICK_TAKEN' ? `the nick ${safe(wanted)} was just taken` : d.describe(err);
    try {
      await d.join(room, oldNick);
      d.notice(room, `${why}; joined again as ${safe(oldNick)}`);
    } catch (again) {
      d.notice(room, `${why}, and joining again as ${safe(oldNick)} failed too (${d.describe(again)}): you are no longer in this room`);
    }
    return false;
  }
}
