// One membership: heartbeats and in-order, exactly-once delivery of a room's
// sequenced events (protocol "Room endpoint: room -> members").
//
// Contract:
// - After `joined` the session sends `hb` at once (protocol
//   "Anti-amplification": the room sends nothing before our first datagram)
//   and then every heartbeatMs. Every hb waits for its reply: an hb not
//   answered is resent on the request backoff (from the client's first
//   retry delay, max(retryInitialMs, RTO), doubling; capped at
//   heartbeatMs / 2), so on a lossy link the room still hears from us well
//   within heartbeatMs x misses and does not evict a live member. After
//   UNRESPONSIVE_PERIODS periods without any reply the room (or its
//   host) is reported unresponsive, once, until it answers again. A round
//   answered after a single hb is a round-trip sample (Karn's rule), unless
//   the round before needed resends (a late reply to one of those could
//   pass for this round's answer); a round answered twice had a needless
//   resend, and backs the first delay off (RttEstimator.backoff).
// - `delivered` is the highest seq handed to the listener in order; it starts
//   at joined.seq (our own `presence join`). Events at or below it, and
//   events already buffered, are duplicates and are dropped.
// - A hole (a known seq above delivered that has not arrived) is fetched
//   after reorderWaitMs; a hole revealed by an `hb` reply, or left after a
//   complete `fetched`, is fetched at once. One fetch is in flight at a time,
//   at most 256 seqs, retried on the request backoff, bounded by maxAttempts;
//   the next hb reply restarts an abandoned fetch. Fetches are not
//   round-trip samples: their answer is up to 256 events, a transfer time.
// - `gap` marks seqs lost for good: it is reported, in seq order, and skipped.
import type { Clock, Timer } from '../lib/clock.js';
import type { FetchedReply, GapEvent, HbReply, JoinedReply, SequencedEvent } from '../lib/wire.js';
import { RETRY_CAP_MS, retryDelayMs, type RttEstimator } from './rtt.js';
import type { Counters } from './stats.js';

/** The room answers at most this many seqs per fetch (protocol "Details: Fetch"). */
export const MAX_FETCH = 256;
/** Periods without any hb reply before the room is reported unresponsive. */
export const UNRESPONSIVE_PERIODS = 3;
/** Events buffered ahead of a hole; beyond this they are dropped and fetched later. */
const MAX_BUFFERED = 8_192;

export interface GapInfo {
  room: string;
  from: number;
  to: number;
}

export interface SessionDeps {
  clock: Clock;
  /** Sends one object to this room's endpoint (the session adds the token). */
  send(obj: Record<string, unknown>): void;
  deliver(e: SequencedEvent): void;
  gap(g: GapInfo): void;
  /** No hb reply for a while (true), or replies again after that (false). */
  unresponsive?(on: boolean): void;
  reorderWaitMs: number;
  /** The client's round-trip estimate: first retry delays, and hb samples. */
  rtt: RttEstimator;
  maxAttempts: number;
  /** Resends are counted here (hb resends, fetch retries). */
  counters?: Counters;
  /**
   * Start as unresponsive (a new membership replacing one whose room went
   * silent): its first hb reply reports the room responsive again.
   */
  startSilent?: boolean;
}

type Slot = SequencedEvent | { type: 'gap'; to: number };

interface Fetch {
  from: number;
  to: number;
  attempts: number;
  firstDelay: number;
  timer: Timer | undefined;
}

export class RoomSession {
  readonly room: string;
  readonly port: number;
  readonly member: string;
  readonly nick: string;
  readonly token: string;
  readonly heartbeatMs: number;
  readonly joinedSeq: number;
  /** Highest seq delivered in order. */
  delivered: number;
  /** Highest seq known to exist in the room. */
  latest: number;
  /** Until then a NOT_MEMBER without id may be about the membership this one replaced (ChatClient). */
  notMemberGraceUntil = 0;
  private readonly buffer = new Map<number, Slot>();
  private hbTimer: Timer | undefined;
  private heartbeating = false;
  /** hb sent in the current round without a reply yet (0: the round was answered). */
  private hbUnanswered = 0;
  private roundStart = 0;
  /** The current round's first resend delay. */
  private roundDelay = 0;
  /** hb sent in the last answered round (>1: a late reply to one of them may still come). */
  private lastRoundSends = 1;
  private lastRoundDelay = 0;
  /** The last round was answered twice: its resend was needless (backed off once). */
  private lastRoundTwice = false;
  private lastReply: number;
  private silent = false;
  private holeTimer: Timer | undefined;
  private fetching: Fetch | undefined;
  private disposed = false;

  constructor(
    joined: JoinedReply,
    private readonly d: SessionDeps,
  ) {
    this.room = joined.room;
    this.port = joined.port;
    this.member = joined.member;
    this.nick = joined.nick;
    this.token = joined.token;
    this.heartbeatMs = joined.heartbeatMs;
    this.joinedSeq = joined.seq;
    this.delivered = joined.seq;
    this.latest = joined.seq;
    this.lastReply = d.clock.now();
    this.silent = d.startSilent ?? false;
  }

  /** No hb reply for UNRESPONSIVE_PERIODS periods (reported through unresponsive(true)). */
  get unresponsive(): boolean {
    return this.silent;
  }

  /** Sends the first hb now and keeps heartbeating. */
  start(): void {
    this.heartbeating = true;
    this.heartbeat();
  }

  /** Stops sending hb (test hook, and while leaving). */
  stopHeartbeats(): void {
    this.heartbeating = false;
    this.clear(this.hbTimer);
    this.hbTimer = undefined;
  }

  /** Stops everything; later datagrams for this session are ignored. */
  dispose(): void {
    this.disposed = true;
    this.stopHeartbeats();
    this.clear(this.holeTimer);
    this.holeTimer = undefined;
    this.clear(this.fetching?.timer);
    this.fetching = undefined;
    this.buffer.clear();
  }

  /** Sends a datagram to the room with our token (say, who, leave go through here too). */
  send(obj: Record<string, unknown>): void {
    this.d.send({ ...obj, token: this.token });
  }

  // ---- input from the room endpoint ------------------------------------------

  onEvent(e: SequencedEvent): void {
    if (this.disposed || e.seq <= this.delivered || this.buffer.has(e.seq)) return;
    if (this.buffer.size >= MAX_BUFFERED && e.seq !== this.delivered + 1) {
      this.latest = Math.max(this.latest, e.seq);
      return this.check(false);
    }
    this.buffer.set(e.seq, e);
    this.latest = Math.max(this.latest, e.seq);
    this.drain();
    this.check(false);
  }

  onHb(r: HbReply): void {
    if (this.disposed) return;
    const now = this.d.clock.now();
    this.lastReply = now;
    if (this.silent) {
      this.silent = false;
      this.d.unresponsive?.(false);
    }
    if (this.hbUnanswered > 0) {
      // Karn's rule: only a round of one hb, after a round of one hb, is a clean sample.
      if (this.hbUnanswered === 1 && this.lastRoundSends === 1) this.d.rtt.sample(now - this.roundStart);
      this.lastRoundSends = this.hbUnanswered;
      this.lastRoundDelay = this.roundDelay;
      this.lastRoundTwice = false;
      // The round is answered: the next hb is due one period after the round began.
      this.hbUnanswered = 0;
      if (this.heartbeating) this.schedule(Math.max(0, this.roundStart + this.heartbeatMs - now));
    } else if (this.lastRoundSends > 1 && !this.lastRoundTwice) {
      // A second reply to the last round: its resend was needless (the first hb was answered, late).
      this.lastRoundTwice = true;
      this.d.rtt.backoff(this.lastRoundDelay);
    }
    if (r.seq > this.latest) this.latest = r.seq;
    // Events up to r.seq were queued before this reply: any still missing are lost or never sent.
    this.check(true);
  }

  onGap(g: GapEvent): void {
    if (this.disposed || g.to <= this.delivered) return;
    // Events we already hold inside the range are still delivered: the gap is
    // split around them (they may have arrived live before the fetch).
    const held: number[] = [];
    for (const [s, slot] of this.buffer) if (slot.type !== 'gap' && s >= g.from && s <= g.to) held.push(s);
    held.sort((a, b) => a - b);
    let start = Math.max(g.from, this.delivered + 1);
    for (const s of held) {
      if (s > start) this.markGap(start, s - 1);
      start = Math.max(start, s + 1);
    }
    if (start <= g.to) this.markGap(start, g.to);
    this.latest = Math.max(this.latest, g.to);
    this.drain();
    this.check(false);
  }

  onFetched(r: FetchedReply): void {
    if (this.disposed) return;
    const f = this.fetching;
    if (!f || r.from !== f.from) return;
    this.clear(f.timer);
    this.fetching = undefined;
    if (r.to < r.from) {
      // Nothing at or after r.from: the room's latest is r.from - 1.
      this.latest = Math.max(this.delivered, r.to, this.maxBuffered());
    }
    // If the whole answered range arrived, move on at once (the 256 cap);
    // otherwise some resent events are still in flight or were lost: wait.
    this.check(this.delivered >= r.to);
  }

  // ---- delivery ----------------------------------------------------------------

  private markGap(from: number, to: number): void {
    const slot = this.buffer.get(from);
    if (slot?.type === 'gap' && slot.to >= to) return;
    this.buffer.set(from, { type: 'gap', to });
  }

  private drain(): void {
    for (;;) {
      const next = this.buffer.get(this.delivered + 1);
      if (!next) return;
      this.buffer.delete(this.delivered + 1);
      if (next.type === 'gap') {
        const from = this.delivered + 1;
        for (const s of this.buffer.keys()) if (s <= next.to) this.buffer.delete(s);
        this.delivered = next.to;
        this.restartHoleWait();
        this.d.gap({ room: this.room, from, to: next.to });
      } else {
        this.delivered = next.seq;
        this.restartHoleWait();
        this.d.deliver(next);
      }
      if (this.disposed) return;
    }
  }

  /** Progress was made: a remaining hole gets a fresh reorder wait. */
  private restartHoleWait(): void {
    this.clear(this.holeTimer);
    this.holeTimer = undefined;
  }

  /** Starts a fetch for the first hole, now or after the reorder wait. */
  private check(now: boolean): void {
    if (this.disposed) return;
    if (this.latest <= this.delivered) {
      this.restartHoleWait();
      return;
    }
    if (this.fetching) return;
    if (now) {
      this.restartHoleWait();
      return this.startFetch();
    }
    if (this.holeTimer) return;
    this.holeTimer = this.d.clock.setTimeout(() => {
      this.holeTimer = undefined;
      if (!this.disposed && !this.fetching && this.latest > this.delivered) this.startFetch();
    }, this.d.reorderWaitMs);
    this.holeTimer.unref?.();
  }

  /** Fetches the first hole; `attempts` carries the tries of the fetch it narrows (still bounded by maxAttempts). */
  private startFetch(attempts = 0): void {
    const from = this.delivered + 1;
    let to = this.latest;
    for (const s of this.buffer.keys()) if (s > this.delivered && s - 1 < to) to = s - 1;
    to = Math.min(to, from + MAX_FETCH - 1);
    if (to < from) return; // defensive: a buffered event at `from` would have been drained
    this.fetching = { from, to, attempts, firstDelay: this.d.rtt.firstDelayMs(), timer: undefined };
    this.sendFetch(this.fetching);
  }

  private sendFetch(f: Fetch): void {
    if (f.attempts >= this.d.maxAttempts) {
      this.fetching = undefined; // the next hb reply tries again
      return;
    }
    const delay = retryDelayMs(f.firstDelay, f.attempts);
    if (f.attempts > 0 && this.d.counters) this.d.counters.retries++;
    f.attempts++;
    f.timer = this.d.clock.setTimeout(() => {
      if (this.fetching !== f || this.disposed) return;
      // Part of the range arrived (its `fetched` did not): ask only for the
      // rest. A long range spans several datagrams, and on a lossy link a
      // retry of all of them rarely gets through whole (20 % loss, 8
      // datagrams: 13 %), which held a tail back for seconds in the netns tests.
      if (this.delivered >= f.from) {
        this.fetching = undefined;
        this.startFetch(this.delivered >= f.to ? 0 : f.attempts);
        return;
      }
      this.sendFetch(f);
    }, delay);
    f.timer.unref?.();
    this.send({ type: 'fetch', from: f.from, to: f.to });
  }

  private maxBuffered(): number {
    let m = 0;
    for (const s of this.buffer.keys()) if (s > m) m = s;
    return m;
  }

  // ---- heartbeats ----------------------------------------------------------------

  private heartbeat(): void {
    if (this.disposed || !this.heartbeating) return;
    const now = this.d.clock.now();
    if (this.hbUnanswered === 0) {
      this.roundStart = now;
      this.roundDelay = this.d.rtt.firstDelayMs();
    } else if (this.d.counters) {
      this.d.counters.retries++;
    }
    this.hbUnanswered++;
    // Resend on the request backoff until answered; never slower than twice a period.
    const backoff = Math.min(this.roundDelay * 2 ** (this.hbUnanswered - 1), RETRY_CAP_MS);
    this.schedule(Math.max(1, Math.min(backoff, this.heartbeatMs / 2)));
    if (!this.silent && now - this.lastReply >= UNRESPONSIVE_PERIODS * this.heartbeatMs) {
      this.silent = true;
      this.d.unresponsive?.(true);
    }
    this.send({ type: 'hb' });
  }

  private schedule(ms: number): void {
    this.clear(this.hbTimer);
    this.hbTimer = this.d.clock.setTimeout(() => this.heartbeat(), ms);
    this.hbTimer.unref?.();
  }

  private clear(t: Timer | undefined): void {
    if (t) this.d.clock.clearTimeout(t);
  }
}
