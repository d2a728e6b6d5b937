// A room's subject of the cluster's JetStream stream, as rooms/stream-journal.ts
// uses it: fenced, deduplicated publishes; a full read (an ordered consumer
// filtered on the subject, up to the last sequence the stream reported at
// the start); a purge when the room is deleted. The stream itself is made
// by the supervisor (supervisor/cluster/nats-setup.ts).
import { jetstream, jetstreamManager, type JetStreamClient, type JetStreamManager } from '@nats-io/jetstream';
import { isWrongLastSequence } from '../lib/nats-errors.js';
import type { NatsConnection } from '@nats-io/transport-node';
import { StreamConflict, type StreamPort } from './stream-journal.js';
import type { StoredBatch } from './stream-records.js';

/** A publish not answered in this long is retried (same msgID): see stream-journal.ts. */
const PUBLISH_TIMEOUT_MS = 2_000;
/** Messages fetched per pull while reading a room's subject. */
const READ_BATCH = 1_000;
/** A read that makes no progress for this long fails (the room's start fails and is retried by its supervisor). */
const READ_STALL_MS = 10_000;

export class NatsStream implements StreamPort {
  private readonly js: JetStreamClient;

  private constructor(
    private readonly nc: NatsConnection,
    private readonly jsm: JetStreamManager,
    private readonly stream: string,
    private readonly subject: string,
  ) {
    this.js = jetstream(nc);
  }

  static async open(nc: NatsConnection, stream: string, subject: string): Promise<NatsStream> {
    return new NatsStream(nc, await jetstreamManager(nc), stream, subject);
  }

  async publish(payload: Buffer, msgID: string, expectLast: number): Promise<{ seq: number; duplicate: boolean }> {
    try {
      const ack = await this.js.publish(this.subject, payload, { msgID, expect: { lastSubjectSequence: expectLast }, timeout: PUBLISH_TIMEOUT_MS });
      return { seq: ack.seq, duplicate: ack.duplicate };
    } catch (err) {
      throw isWrongLastSequence(err) ? new StreamConflict((err as Error).message) : err;
    }
  }

  async read(): Promise<{ batches: StoredBatch[]; last: number }> {
    const lastMsg = await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject });
    if (!lastMsg) return { batches: [], last: 0 };
    const last = lastMsg.seq;
    const batches: StoredBatch[] = [];
    const consumer = await this.js.consumers.get(this.stream, { filter_subjects: this.subject });
    const dec = new TextDecoder();
    let seen = 0;
    try {
      while (seen < last) {
        const before = seen;
        const msgs = await consumer.fetch({ max_messages: READ_BATCH, expires: READ_STALL_MS });
        for await (const m of msgs) {
          if (m.seq > last) break;
          batches.push({ seq: m.seq, data: dec.decode(m.data) });
          seen = m.seq;
          if (seen >= last) break;
        }
        if (seen === before) throw new Error(`reading ${this.subject} stalled at stream sequence ${seen} of ${last}`);
      }
    } finally {
      await consumer.delete().catch(() => {});
    }
    return { batches, last };
  }

  async purgeUpTo(upTo: number): Promise<void> {
    // `seq` purges what is below it.
    await this.jsm.streams.purge(this.stream, { filter: this.subject, seq: upTo + 1 });
  }

  async close(): Promise<void> {
    await this.nc.drain().catch(() => {});
  }
}
