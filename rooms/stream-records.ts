// What a room's journal holds in cluster mode (docs/cluster.md "The room
// journal"), declared once: each JetStream message is one batch of lines,
// every line either a sequenced event exactly as members get it (msg,
// presence) or one of the records below. From them a node that never saw
// the room rebuilds its seq, history, `say` dedupe and members — member
// ids, nicks, token hashes (never raw tokens) and endpoints.
import { encode } from '../lib/codec.js';
import { MemberRecord } from '../lib/ipc.js';
import { int, isPlainObject, lit, object, str, union, type Infer } from '../lib/schema.js';
import { MsgEvent, PresenceEvent, type SequencedEvent } from '../lib/wire.js';

const name = () => str(1, 256);

/** A member joined: written in the batch of its `presence join`. */
export const MemberLine = object({
  type: lit('member'),
  member: name(),
  nick: name(),
  tokenHash: name(),
  address: name(),
  port: int(0, 65535),
});
/** A member answered a challenge from a new endpoint (protocol "Address changes"). */
export const MovedLine = object({ type: lit('moved'), member: name(), address: name(), port: int(1, 65535) });
/**
 * An incarnation of the room took it over. Written first, with the stream
 * position the writer read up to as the expected last sequence: any earlier
 * writer's next append is refused from then on (the fence).
 */
export const ClaimLine = object({ type: lit('claim'), node: name(), incarnation: int(1), at: int(0) });

export const RecordLine = union({ member: MemberLine, moved: MovedLine, claim: ClaimLine });
export type RecordLine = Infer<typeof RecordLine>;

export function memberLine(r: MemberRecord): Buffer {
  return encode({ type: 'member', member: r.member, nick: r.nick, tokenHash: r.tokenHash, address: r.address, port: r.port });
}

export function movedLine(member: string, to: { address: string; port: number }): Buffer {
  return encode({ type: 'moved', member, address: to.address, port: to.port });
}

export function claimLine(node: string, incarnation: number, at: number): Buffer {
  return encode({ type: 'claim', node, incarnation, at });
}

export interface Rebuilt {
  /** Sequenced events, oldest first (as rooms/journal.ts Restored). */
  events: Array<{ seq: number; encoded: Buffer; value: SequencedEvent }>;
  /** Members present after the last line: joined, not left or evicted, where they last moved. */
  members: MemberRecord[];
  /** Lines that were not a valid event or record (counted, skipped). */
  skipped: number;
  /** The last claim: who held the room before. */
  lastClaim: { node: string; incarnation: number } | undefined;
}

/**
 * Replays the lines of every batch, oldest first. A seq seen twice keeps its
 * first line: a seq is never handed out twice, so a second is damage.
 */
export function rebuild(batches: Iterable<string>): Rebuilt {
  const events: Rebuilt['events'] = [];
  const seen = new Set<number>();
  const members = new Map<string, MemberRecord>();
  let skipped = 0;
  let last = 0;
  let lastClaim: Rebuilt['lastClaim'];
  for (const batch of batches) {
    for (const line of batch.split('\n')) {
      if (line === '') continue;
      let v: unknown;
      try {
        v = JSON.parse(line);
      } catch {
        skipped++;
        continue;
      }
      if (!isPlainObject(v)) {
        skipped++;
        continue;
      }
      if (v['type'] === 'msg' || v['type'] === 'presence') {
        const p = v['type'] === 'msg' ? MsgEvent.parse(v) : PresenceEvent.parse(v);
        if (!p.ok || seen.has(p.value.seq) || p.value.seq <= last) {
          skipped++;
          continue;
        }
        seen.add(p.value.seq);
        last = p.value.seq;
        events.push({ seq: p.value.seq, encoded: Buffer.from(line, 'utf8'), value: p.value });
        if (p.value.type === 'presence' && p.value.event !== 'join') members.delete(p.value.member);
        continue;
      }
      const r = RecordLine.parse(v);
      if (!r.ok) {
        skipped++;
        continue;
      }
      const rec = r.value;
      switch (rec.type) {
        case 'member':
          members.set(rec.member, { member: rec.member, nick: rec.nick, tokenHash: rec.tokenHash, address: rec.address, port: rec.port });
          break;
        case 'moved': {
          const m = members.get(rec.member);
          if (m) members.set(rec.member, { ...m, address: rec.address, port: rec.port });
          break;
        }
        case 'claim':
          lastClaim = { node: rec.node, incarnation: rec.incarnation };
          break;
        default: {
          const never: never = rec;
          throw new Error(`unhandled record ${JSON.stringify(never)}`);
        }
      }
    }
  }
  return { events, members: [...members.values()], skipped, lastClaim };
}
