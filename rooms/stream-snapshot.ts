// Compaction of a room's journal in cluster mode. The room's subject grows
// with every batch; a node taking the room over reads all of it. So once a
// room has appended twice its history's worth of lines since its last
// snapshot, it appends a new one — its members as of the last stored batch
// (`upTo`), its seq and its held history (rooms/stream-records.ts
// SnapshotLine) — and, once that is stored whole, purges the subject up to
// `upTo`. A rebuild starts from the last complete snapshot and replays what
// was stored after `upTo`, so batches still in flight when the snapshot was
// taken are not lost, and a snapshot cut short by a crash is ignored.
import { encode } from '../lib/codec.js';
import type { MemberRecord } from '../lib/ipc.js';

/** Snapshot chunks stay well under NATS's 1 MB payload limit (the journal batches up to 512 KB). */
const CHUNK_BYTES = 256 * 1024;

/** The snapshot's lines, in chunks to append one after another (in one go: nothing comes between them). */
export function snapshotChunks(id: string, seq: number, upTo: number, members: readonly MemberRecord[], held: readonly Buffer[]): Buffer[][] {
  const lines = [encode({ type: 'snapshot', id, seq, upTo, members: members.map(({ member, nick, tokenHash, address, port }) => ({ member, nick, tokenHash, address, port })) }), ...held, encode({ type: 'snapshot-end', id })];
  const chunks: Buffer[][] = [];
  let cur: Buffer[] = [];
  let bytes = 0;
  for (const l of lines) {
    if (cur.length > 0 && bytes + l.length + 1 > CHUNK_BYTES) {
      chunks.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(l);
    bytes += l.length + 1;
  }
  chunks.push(cur);
  return chunks;
}
