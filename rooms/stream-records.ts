// What a room's journal holds in cluster mode (docs/cluster.md "The room
// journal"), declared once: each JetStream message is one batch of lines,
// every line either a sequenced event exactly as members get it (msg,
// presence) or one of the records below. From them a node that never saw
// the room rebuilds its seq, history, `say` dedupe and members — member
// ids, nicks, token hashes (never raw tokens) and endpoints.
import { encode } from '../lib/codec.js';
import { MemberRecord } from '../lib/ipc.js';
import { arr, int, isPlainObject, lit, obj, object, str, union, type Infer } from '../lib/schema.js';
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

/**
 * The start of a snapshot (compaction): the room's members as of the stream
 * position `upTo` (every batch up to it is reflected), its seq, then the
 * held history as event lines, then SnapshotEndLine with the same id. Once
 * the end is stored, everything up to `upTo` can be purged: a rebuild
 * starts from the last complete snapshot and replays what was stored after
 * `upTo` (rooms/stream-snapshot.ts).
 */
export const SnapshotLine = object({ type: lit('snapshot'), id: name(), seq: int(0), upTo: int(0), members: arr(obj(MemberRecord)) });
export const SnapshotEndLine = object({ type: lit('snapshot-end'), id: name() });

export const RecordLine = union({ member: MemberLine, moved: MovedLine, claim: ClaimLine, snapshot: SnapshotLine, 'snapshot-end': SnapshotEndLine });
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

/** One message of the room's subject: its stream sequence and its lines. */
export interface StoredBatch {
  seq: number;
  data: string;
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
  /** The snapshot the rebuild started from, if any: its id and the stream position it covers. */
  base?: { id: string; upTo: number };
}

type Parsed = { kind: 'event'; seq: number; encoded: Buffer; value: SequencedEvent } | { kind: 'record'; rec: RecordLine } | { kind: 'bad' } | { kind: 'blank' };

function parseLine(line: string): Parsed {
  if (line === '') return { kind: 'blank' };
  let v: unknown;
  try {
    v = JSON.parse(line);
  } catch {
    return { kind: 'bad' };
  }
  if (!isPlainObject(v)) return { kind: 'bad' };
  if (v['type'] === 'msg' || v['type'] === 'presence') {
    const p = v['type'] === 'msg' ? MsgEvent.parse(v) : PresenceEvent.parse(v);
    return p.ok ? { kind: 'event', seq: p.value.seq, encoded: Buffer.from(line, 'utf8'), value: p.value } : { kind: 'bad' };
  }
  const r = RecordLine.parse(v);
  return r.ok ? { kind: 'record', rec: r.value } : { kind: 'bad' };
}

/**
 * Rebuilds a room from its subject, oldest message first. With a complete
 * snapshot, from the last one: its members and history, then every line of
 * the messages stored after the position it covers. A seq seen twice keeps
 * its first line, and one below the last is skipped: a seq is never handed
 * out twice, so a second is damage (or a snapshot's copy of history).
 * Plain strings are batches numbered 1, 2, 3...
 */
export function rebuild(input: Iterable<string | StoredBatch>): Rebuilt {
  const batches: Array<{ seq: number; lines: Parsed[] }> = [];
  let n = 0;
  for (const b of input) {
    n++;
    const { seq, data } = typeof b === 'string' ? { seq: n, data: b } : b;
    batches.push({ seq, lines: data.split('\n').map(parseLine) });
  }
  const base = lastCompleteSnapshot(batches);
  const events: Rebuilt['events'] = [];
  const members = new Map<string, MemberRecord>();
  let skipped = 0;
  let last = 0;
  let lastClaim: Rebuilt['lastClaim'];
  const seen = new Set<number>();
  const addEvent = (p: Extract<Parsed, { kind: 'event' }>) => {
    if (p.seq <= last) return void skipped++;
    last = p.seq;
    seen.add(p.seq);
    events.push({ seq: p.seq, encoded: p.encoded, value: p.value });
    if (p.value.type === 'presence' && p.value.event !== 'join') members.delete(p.value.member);
  };
  if (base) {
    for (const m of base.snapshot.members) members.set(m.member, m);
    for (const e of base.history) addEvent(e);
  }
  /** Inside a snapshot's history copy (another than the base, e.g. one cut short): its repeats are no damage. */
  let inSnapshot = false;
  for (const b of batches) {
    if (base && b.seq <= base.snapshot.upTo) continue;
    for (const p of b.lines) {
      switch (p.kind) {
        case 'blank':
          break;
        case 'bad':
          skipped++;
          break;
        case 'event':
          // A snapshot's copy of history is below `last` by then: skipped, not counted as damage.
          if (inSnapshot && seen.has(p.seq)) break;
          addEvent(p);
          break;
        case 'record':
          if (p.rec.type === 'snapshot') inSnapshot = true;
          else if (p.rec.type === 'snapshot-end' || p.rec.type === 'claim') inSnapshot = false;
          applyRecord(p.rec, members, (c) => (lastClaim = c));
          break;
        default: {
          const never: never = p;
          throw new Error(`unhandled line ${JSON.stringify(never)}`);
        }
      }
    }
  }
  return { events, members: [...members.values()], skipped, lastClaim, ...(base ? { base: { id: base.snapshot.id, upTo: base.snapshot.upTo } } : {}) };
}

function applyRecord(rec: RecordLine, members: Map<string, MemberRecord>, claim: (c: { node: string; incarnation: number }) => void): void {
  switch (rec.type) {
    case 'member':
      members.set(rec.member, { member: rec.member, nick: rec.nick, tokenHash: rec.tokenHash, address: rec.address, port: rec.port });
      return;
    case 'moved': {
      const m = members.get(rec.member);
      if (m) members.set(rec.member, { ...m, address: rec.address, port: rec.port });
      return;
    }
    case 'claim':
      return claim({ node: rec.node, incarnation: rec.incarnation });
    case 'snapshot':
    case 'snapshot-end':
      return; // only the base snapshot counts, read before the replay
    default: {
      const never: never = rec;
      throw new Error(`unhandled record ${JSON.stringify(never)}`);
    }
  }
}

/** The last snapshot whose end was stored, with the history lines between its start and its end. */
function lastCompleteSnapshot(batches: Array<{ seq: number; lines: Parsed[] }>): { snapshot: Infer<typeof SnapshotLine>; history: Array<Extract<Parsed, { kind: 'event' }>> } | undefined {
  let found: ReturnType<typeof lastCompleteSnapshot>;
  let open: { snapshot: Infer<typeof SnapshotLine>; history: Array<Extract<Parsed, { kind: 'event' }>> } | undefined;
  for (const b of batches) {
    for (const p of b.lines) {
      if (p.kind === 'record' && p.rec.type === 'snapshot') open = { snapshot: p.rec, history: [] };
      else if (p.kind === 'record' && p.rec.type === 'snapshot-end') {
        if (open && open.snapshot.id === p.rec.id) found = open;
        open = undefined;
      } else if (p.kind === 'event' && open) open.history.push(p);
    }
  }
  return found;
}
