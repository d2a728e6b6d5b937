// Queued fan-out. Contract:
// - push()/pushReply()/pushShared() MUST NOT block or reorder: objects for
//   one member leave in the order they were queued.
// - Each member's queued room events are bounded by bytes; over the bound the
//   OLDEST queued events are dropped (the member sees a seq hole and fetches
//   it). Replies to the member's own requests (pushReply: hb, who, fetch
//   results, errors) are never dropped: a fetch is answered in full
//   (protocol "Details: Fetch"), and they are bounded by the requests.
// - Everything queued in one event-loop turn is flushed at the end of that
//   turn, coalesced into datagrams of at most maxDatagramBytes (protocol
//   "Transport": NDJSON), so a lone message is never delayed.
// - beforeFlush runs first: the room writes the turn's events to its journal
//   and queues them (or refuses them) before anything is sent.
//
// The fast path: a room event goes to every proven member, so within one
// turn most members' queues are the same list of events. Those members stay
// "shared": they only remember where in the turn's batch their queue starts,
// nothing is copied per member, and the batch is packed into datagrams once
// and the same buffers are sent to each of them. A member leaves the shared
// path (its queue is materialized) as soon as something else is queued for
// it or it leaves the roster. With a batch transport (sendmmsg, see
// rooms/udp-batch.ts) the shared datagrams go to all of them in a few
// system calls; whatever it could not send goes through send(), in order.
import { pack } from '../lib/codec.js';
import type { Member } from './member.js';

/**
 * The room's sockets: one per local address it serves (`via` numbers
 * them), so a datagram leaves from the address its member wrote to.
 */
export interface Transport {
  send(datagram: Buffer, port: number, address: string, via: number): void;
  batch?: BatchTransport;
}

export interface BatchTransport {
  /** A member's address for sendToAll through socket `via`, made once per member; undefined: that member goes through send(). */
  sockaddr(address: string, port: number, via: number): Buffer | undefined;
  /** Every datagram to every address through socket `via`, address-major; returns how many went out, in that order. */
  sendToAll(datagrams: readonly Buffer[], addrs: readonly Buffer[], via: number): number;
  /**
   * False while send() still has datagrams queued on socket `via` (a full
   * socket buffer): a batch sent now would overtake them, so send() is used
   * until it drains.
   */
  ready(via: number): boolean;
}

const NOT_SHARED = -1;

export class Outbox {
  private dirty: Member[] = [];
  /** Room events broadcast this turn, in order. */
  private batch: Buffer[] = [];
  /** Numbers turns, so a member knows whether its queue belongs to this one. */
  private turn = 1;
  private scheduled = false;
  private readonly flushBound = () => this.flush();
  // What went out, for the room's stats (rooms/stats.ts): bumped per
  // member or per send call, never per datagram and member.
  /** Room events sent to members, one per event per member. */
  deliveries = 0;
  datagrams = 0;
  bytes = 0;
  /** Events dropped from members' queues over the bound. */
  queueDropped = 0;
  /** Datagrams the transport refused. */
  sendErrors = 0;

  constructor(
    private readonly transport: Transport,
    private readonly maxDatagramBytes: number,
    /** sendQueueMaxBytes; set again by a reload. */
    public maxQueueBytes: number,
    private readonly beforeFlush: () => void = () => {},
    private readonly schedule: (fn: () => void) => void = setImmediate,
  ) {}

  /** Adds a room event to this turn's batch; then pushShared() it to each recipient. */
  share(encoded: Buffer): void {
    this.batch.push(encoded);
  }

  /** Queues the event just shared for this member (O(1): no copy while the member stays shared). */
  pushShared(m: Member): void {
    if (m.turn !== this.turn) {
      this.begin(m);
      m.sharedFrom = this.batch.length - 1;
    } else if (m.sharedFrom === NOT_SHARED) {
      this.enqueue(m, this.batch[this.batch.length - 1]!, true);
    }
    // else: a shared member's slice of the batch grows by itself.
  }

  /** Queues a room event for one member only (droppable under the bound). */
  push(m: Member, encoded: Buffer): void {
    this.ownQueue(m);
    this.enqueue(m, encoded, true);
  }

  /** Queues a reply to the member's own request (never dropped). */
  pushReply(m: Member, encoded: Buffer): void {
    this.ownQueue(m);
    this.enqueue(m, encoded, false);
  }

  /** The member leaves the roster: what it was due so far is kept, later shared events are not its own. */
  detach(m: Member): void {
    if (m.turn === this.turn) this.ownQueue(m);
  }

  /** Makes sure a flush runs at the end of this turn (the room staged events: beforeFlush commits them). */
  requestFlush(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    this.schedule(this.flushBound);
  }

  flush(): void {
    // beforeFlush queues the events it lets go (and refusals): they belong to this flush, not a new one.
    this.scheduled = true;
    this.beforeFlush();
    this.scheduled = false;
    const dirty = this.dirty;
    const batch = this.batch;
    this.dirty = [];
    this.batch = [];
    this.turn++;
    // Packed datagrams of the batch from a given start index (almost always
    // 0), built once, with the members that get them.
    const packed = new Map<number, { datagrams: Buffer[]; dropped: number; events: number; members: Member[] }>();
    for (const m of dirty) {
      if (m.sharedFrom !== NOT_SHARED) {
        let p = packed.get(m.sharedFrom);
        if (!p) {
          const b = this.packBatch(batch, m.sharedFrom);
          p = { ...b, events: batch.length - m.sharedFrom - b.dropped, members: [] };
          packed.set(m.sharedFrom, p);
        }
        m.dropped += p.dropped;
        this.queueDropped += p.dropped;
        this.deliveries += p.events;
        p.members.push(m);
      } else {
        for (const droppable of m.droppable) if (droppable) this.deliveries++;
        this.sendEach(m, pack(m.queue, this.maxDatagramBytes).map((d) => (d.length === 1 ? d[0]! : Buffer.concat(d))));
      }
      m.queue = [];
      m.droppable = [];
      m.eventBytes = 0;
      m.sharedFrom = NOT_SHARED;
    }
    for (const p of packed.values()) this.sendShared(p.datagrams, p.members);
  }

  /** The same datagrams to many members: batched where the transport can (per socket), the rest one by one. */
  private sendShared(datagrams: Buffer[], members: Member[]): void {
    if (datagrams.length === 0) return;
    const b = this.transport.batch;
    if (!b || members.length < 2) {
      for (const m of members) this.sendEach(m, datagrams);
      return;
    }
    const via = members[0]!.via;
    if (members.every((m) => m.via === via)) return this.sendBatch(b, datagrams, members, via);
    // Members that wrote to different local addresses: one batch per socket.
    const bySocket = new Map<number, Member[]>();
    for (const m of members) {
      const group = bySocket.get(m.via);
      if (group) group.push(m);
      else bySocket.set(m.via, [m]);
    }
    for (const [v, group] of bySocket) this.sendBatch(b, datagrams, group, v);
  }

  private sendBatch(b: BatchTransport, datagrams: Buffer[], members: Member[], via: number): void {
    if (members.length < 2 || !b.ready(via)) {
      for (const m of members) this.sendEach(m, datagrams);
      return;
    }
    const addrs: Buffer[] = [];
    const batched: Member[] = [];
    for (const m of members) {
      if (m.sockaddr === undefined) m.sockaddr = b.sockaddr(m.address, m.port, via) ?? false;
      if (m.sockaddr === false) this.sendEach(m, datagrams);
      else {
        addrs.push(m.sockaddr);
        batched.push(m);
      }
    }
    let sent = 0;
    try {
      sent = b.sendToAll(datagrams, addrs, via);
    } catch {
      // A helper that refuses its arguments is a bug, not a reason to lose the turn: send() takes over.
    }
    // What the batch did not send (a full buffer, a destination's error), in
    // the same order: the rest of the member it stopped at, then the others.
    const n = datagrams.length;
    const stoppedAt = Math.floor(sent / n);
    this.countBatch(datagrams, stoppedAt, sent % n);
    for (let i = stoppedAt; i < batched.length; i++) {
      this.sendEach(batched[i]!, i === stoppedAt ? datagrams.slice(sent % n) : datagrams);
    }
  }

  /** Counts what one sendToAll sent: `members` whole copies of the datagrams, and the first `partial` of them once more. */
  private countBatch(datagrams: readonly Buffer[], members: number, partial: number): void {
    let all = 0;
    let part = 0;
    for (let i = 0; i < datagrams.length; i++) {
      all += datagrams[i]!.length;
      if (i < partial) part += datagrams[i]!.length;
    }
    this.datagrams += members * datagrams.length + partial;
    this.bytes += members * all + part;
  }

  private sendEach(m: Member, datagrams: readonly Buffer[]): void {
    for (const d of datagrams) {
      try {
        this.transport.send(d, m.port, m.address, m.via);
        this.datagrams++;
        this.bytes += d.length;
      } catch {
        // A closed socket (shutdown) must not strand the other members' queues.
        m.sendErrors++;
        this.sendErrors++;
      }
    }
  }

  /** The batch from `start`, oldest events dropped past the bound (the newest is always kept). */
  private packBatch(batch: Buffer[], start: number): { datagrams: Buffer[]; dropped: number } {
    let from = start;
    let bytes = 0;
    for (let i = start; i < batch.length; i++) bytes += batch[i]!.length;
    while (bytes > this.maxQueueBytes && from < batch.length - 1) bytes -= batch[from++]!.length;
    const slice = from === 0 ? batch : batch.slice(from);
    return { datagrams: pack(slice, this.maxDatagramBytes).map((d) => (d.length === 1 ? d[0]! : Buffer.concat(d))), dropped: from - start };
  }

  /** Makes the member's queue its own list (leaving the shared path), starting its turn if needed. */
  private ownQueue(m: Member): void {
    if (m.turn !== this.turn) return this.begin(m);
    if (m.sharedFrom === NOT_SHARED) return;
    const from = m.sharedFrom;
    m.sharedFrom = NOT_SHARED;
    for (let i = from; i < this.batch.length; i++) this.enqueue(m, this.batch[i]!, true);
  }

  private begin(m: Member): void {
    m.turn = this.turn;
    m.sharedFrom = NOT_SHARED;
    this.dirty.push(m);
    if (!this.scheduled) {
      this.scheduled = true;
      this.schedule(this.flushBound);
    }
  }

  private enqueue(m: Member, encoded: Buffer, droppable: boolean): void {
    m.queue.push(encoded);
    m.droppable.push(droppable);
    if (!droppable) return;
    m.eventBytes += encoded.length;
    if (m.eventBytes > this.maxQueueBytes) this.dropOldestEvents(m);
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
        this.queueDropped++;
        continue;
      }
      keepQ.push(b);
      keepD.push(m.droppable[i]!);
    }
    m.queue = keepQ;
    m.droppable = keepD;
  }
}
