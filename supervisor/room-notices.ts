// What a room tells the supervisor unasked (room-process.ts `Unsolicited`):
// `proven` marks the member's endpoint proven and `moved` records where it
// moved to (both kept for restarts); `left`,
// `evicted` and `departed` take the member out of the registry, inside the
// room's mailbox, and delete the room once it is empty.
import { encode } from '../lib/codec.js';
import { leaveReplayKey } from './replay-keys.js';
import type { NoticeDeps } from './deps.js';
import type { RoomEntry } from './room-entry.js';
import type { Unsolicited } from './room-handle.js';

export function applyNotice(sup: NoticeDeps, entry: RoomEntry, m: Unsolicited): void {
  if (m.type === 'fenced') {
    // Cluster mode: another node claimed the room; this one lets it go (members ask `where`).
    if (entry.released) return;
    void sup.mailboxes
      .serialize(entry.name, async () => {
        if (sup.registry.isCurrent(entry)) await sup.host.releaseRoom(entry);
      })
      .catch((err: unknown) => sup.log.error({ event: 'notice_failed', room: entry.name, err }, 'failed to release a fenced room'));
    return;
  }
  const sm = entry.members.get(m.member);
  if (m.type === 'proven') {
    if (sm) sup.registry.markProven(sm);
    return;
  }
  if (m.type === 'moved') {
    if (sm) sup.registry.moveMember(entry, sm, { address: m.address, port: m.port });
    return;
  }
  void sup.mailboxes.serialize(entry.name, async () => {
    // A notice from an earlier incarnation still tells the truth about
    // its member (the exit can overtake the last IPC message).
    if (!sup.registry.isCurrent(entry)) return;
    const cur = sup.registry.removeMember(entry, m.member);
    if (!cur) return;
    switch (m.type) {
      case 'left':
        // A lost `left` from the room endpoint is retried at the control endpoint (protocol "Leave after the room is gone").
        sup.replay.set(leaveReplayKey(cur.endpoint, entry.name, m.reqId), encode({ type: 'left', id: m.reqId, room: entry.name }));
        entry.rememberLeave({ tokenHash: cur.tokenHash, address: cur.address, port: cur.port, id: m.reqId, at: sup.clock.now() }, sup.config.idempotenceWindowMs);
        sup.log.info({ event: 'member_left', room: entry.name, member: cur.member, nick: cur.nick, via: 'room' }, 'member left');
        break;
      case 'evicted':
        sup.log.info({ event: 'member_evicted', room: entry.name, member: cur.member, nick: cur.nick, silentMs: m.silentMs, proven: m.proven }, 'member evicted');
        break;
      case 'departed':
        sup.log.info({ event: 'member_departed', room: entry.name, member: cur.member, nick: cur.nick }, 'member had left before the room restarted');
        break;
      default: {
        const never: never = m;
        throw new Error(`unhandled notice ${JSON.stringify(never)}`);
      }
    }
    if (entry.members.size === 0) await sup.host.deleteRoom(entry, 'empty');
  }).catch((err: unknown) => sup.log.error({ event: 'notice_failed', room: entry.name, err }, 'failed to apply room notice'));
}
