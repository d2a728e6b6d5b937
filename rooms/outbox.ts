// Queued fan-out. Contract:
// - push() MUST NOT block or reorder: objects for one member leave in push order.
// - Each member's queue is bounded by bytes; over the bound the OLDEST queued
//   objects are dropped (the member sees a seq hole and fetches it).
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

  push(m: Member, encoded: Buffer): void {
    if (m.queue.length === 0) this.dirty.push(m);
    m.queue.push(encoded);
    m.queuedBytes += encoded.length;
    while (m.queuedBytes > this.maxQueueBytes && m.queue.length > 1) {
      m.queuedBytes -= m.queue.shift()!.length;
      m.dropped++;
    }
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flushBound);
    }
  }

  flush(): void {
    this.scheduled = false;
    this.beforeFlush();
    const dirty = this.dirty;
    this.dirty = [];
    for (const m of dirty) {
      for (const datagram of pack(m.queue, this.maxDatagramBytes)) this.transport.send(datagram, m.port, m.address);
      m.queue = [];
      m.queuedBytes = 0;
    }
  }
}
