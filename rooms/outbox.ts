// Queued fan-out. Contract:
// - push() MUST NOT block or reorder: objects for one member leave in push order.
// - Each member's queued room events (push) are bounded by bytes; over the
//   bound the OLDEST queued events are dropped (the member sees a seq hole
//   and fetches it). Replies to the member's own requests (pushReply: hb,
//   who, fetch results, errors) are never dropped: a fetch is answered in
//   full (protocol "Details: Fetch"), and they are bounded by the requests.
// - Everything pushed in one event-loop turn is flushed at the end of that
//   turn, coalesced into datagrams of at most maxDatagramBytes (protocol
//   "Transport": NDJSON), so a lone message is never delayed.
// - beforeFlush runs first: the journal is written before anything is sent.
import { pack } from '../lib/codec.js';
import type { Member } from './member.js';

export interface Transport {
  send(datagram: Buffer[], port: number, address: string): void;
}

export class Outbox {
  private dirty: Member[] = [];
  private scheduled = false;
  private readonly flushBound = () => this.flush();

  constructor(
    private readonly transport: Transport,
    private readonly maxDatagramBytes: number,
    private readonly maxQueueBytes: number,
    private readonly beforeFlush: () => void = () => {},
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {}

  /** Queues a room event (droppable under the bound). */
  push(m: Member, encoded: Buffer): void {
    this.enqueue(m, encoded, true);
    m.eventBytes += encoded.length;
    if (m.eventBytes > this.maxQueueBytes) this.dropOldestEvents(m);
  }

  /** Queues a reply to the member's own request (never dropped). */
  pushReply(m: Member, encoded: Buffer): void {
    this.enqueue(m, encoded, false);
  }

  private enqueue(m: Member, encoded: Buffer, droppable: boolean): void {
    if (m.queue.length === 0) this.dirty.push(m);
    m.queue.push(encoded);
    m.droppable.push(droppable);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flushBound);
    }
  }

  private dropOldestEvents(m: Member): void {
    // Rare (a burst beyond the bound within one turn), so a linear pass is fine;
    // the newest event is always kept.
    const keepQ: Buffer[] = [];
    const keepD: boolean[] = [];
    const last = m.queue.length - 1;
    for (let i = 0; i <= last; i++) {
      const b = m.queue[i]!;
      if (m.droppable[i] && i !== last && m.eventBytes > this.maxQueueBytes) {
        m.eventBytes -= b.length;
        m.dropped++;
        continue;
      }
      keepQ.push(b);
      keepD.push(m.droppable[i]!);
    }
    m.queue = keepQ;
    m.droppable = keepD;
  }

  flush(): void {
    this.scheduled = false;
    this.beforeFlush();
    const dirty = this.dirty;
    this.dirty = [];
    for (const m of dirty) {
      const queue = m.queue;
      m.queue = [];
      m.droppable = [];
      m.eventBytes = 0;
      for (const datagram of pack(queue, this.maxDatagramBytes)) {
        try {
          this.transport.send(datagram, m.port, m.address);
        } catch {
          // A closed socket (shutdown) must not strand the other members' queues.
          m.sendErrors++;
        }
      }
    }
  }
}
