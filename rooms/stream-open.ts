// Opens a room's replicated journal (cluster mode): connects to NATS, reads
// everything the room's subject holds, rebuilds the room's state from it,
// and appends this incarnation's claim — expecting the last sequence it
// read, so the claim is refused if anyone wrote after the read, and every
// earlier writer is refused once it is stored (rooms/stream-journal.ts).
// NATS is loaded here, on demand: a single node's rooms never load it.
import { nanoid } from 'nanoid';
import type { Clock } from '../lib/clock.js';
import type { StreamInit } from '../lib/ipc.js';
import type { Logger } from '../lib/logger.js';
import { LogLimiter } from '../lib/log-limiter.js';
import { StreamJournal } from './stream-journal.js';
import { claimLine, rebuild, type Rebuilt } from './stream-records.js';

export interface OpenedStream {
  journal: StreamJournal;
  rebuilt: Rebuilt;
  /** The stream position the claim was stored at. */
  claimedAt: number;
  readMs: number;
  close(): Promise<void>;
}

export async function openStreamJournal(s: StreamInit, room: string, incarnation: number, clock: Clock, log: Logger): Promise<OpenedStream> {
  const { connect } = await import('@nats-io/transport-node');
  const { NatsStream } = await import('./nats-stream.js');
  // Reconnects quickly and for ever: the room must outlive a NATS server.
  const nc = await connect({ servers: [...s.servers], name: `chatd room ${room}`, maxReconnectAttempts: -1, reconnectTimeWait: 50, timeout: 5_000 });
  try {
    const t0 = clock.now();
    const port = await NatsStream.open(nc, s.stream, s.subject);
    const { batches, last } = await port.read();
    const rebuilt = rebuild(batches);
    const readMs = clock.now() - t0;
    const limited = new LogLimiter(log, clock);
    const journal = new StreamJournal({
      port,
      clock,
      writerId: `${s.node}.${incarnation}.${nanoid(8)}`,
      last,
      onTrouble: (err, attempt) => limited.warn('journal_append_retrying', { attempt, reason: (err as Error).message }, 'JetStream did not store a batch; retrying it'),
      onRecovered: (attempts) => log.info({ event: 'journal_append_recovered', attempts }, 'JetStream stores batches again'),
    });
    await journal.append([claimLine(s.node, incarnation, clock.wall())]);
    return { journal, rebuilt, claimedAt: journal.lastSeq, readMs, close: () => nc.drain().catch(() => {}) };
  } catch (err) {
    await nc.close().catch(() => {});
    throw err;
  }
}
