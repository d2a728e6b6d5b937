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
// - Every room datagram we send expects an answer (hb, say, fetch, who,
//   leave). When one has gone unanswered for QUIET_DELAYS first retry
//   delays (its first send and two resends, at 0, d and 3d, have had no
//   answer) and nothing at all came from the room since, the room is
//   reported quiet: long before it is unresponsive, so that the owner can
//   ask where the room is now (protocol "Several nodes (cluster mode)": a
//   room whose node died is resumed by another within seconds). Any
//   datagram from the room's endpoint ends the quiet spell.
// - moveTo() points the membership at the room's new endpoint (a `here`
//   naming another one): every datagram goes there from then on, and a
//   fetch on its way to the old endpoint is started over from the next hb
//   reply; hbNow() sends that hb at once (the room there sends nothing
//   before our first datagram, and its reply tells how far the room has
//   got: the missed range is fetched like any hole an hb reply reveals).
// - `delivered` is the highest seq handed to the listener in order; it starts
//   at joined.seq (our own `presence join`). Events at or below it, and
//   events already buffered, are duplicates and are dropped. Every seq above
//   joined.seq reaches the listener exactly once, in order: as an event, or
//   inside a reported gap.
// - A hole (a known seq above delivered that has not arrived) is fetched
//   after reorderWaitMs; a hole revealed by an `hb` reply, or left after a
//   complete `fetched`, is fetched at once. One fetch is in flight at a time,
//   at most 256 seqs, retried on the request backoff, bounded by maxAttempts;
//   the next hb reply restarts an abandoned fetch. Fetches are not
//   round-trip samples: their answer is up to 256 events, a transfer time.
// - `gap` marks seqs lost for good. A reply may hold several, interleaved
//   with the held events (a room whose journal lost seqs in the middle);
//   each is recorded as a run and skipped. An event we hold, or that
//   arrives before its run is reported, is still delivered: the run is split
//   around it. A run at the front is reported only once what follows it is
//   known (an event, or nothing more in the room), so the all-gap answers of
//   consecutive fetches, and adjacent runs, make one report.
// - A client far behind: when a fetch at the front comes back wholly as gap
//   and the room's latest is more than SEARCH_TAIL seqs beyond it, the next
//   fetches are probes of a GapSearch (client/gap-search.ts) for where the
//   held history begins, in a number of fetches logarithmic in the
//   distance. What the search passes over is taken as lost and joins the
//   front run; events the probes bring are kept (within the buffer bound). The last SEARCH_TAIL seqs are always
//   walked window by window, so holes near the room's latest never hide an
//   event; below them a held island inside a hole wider than a fetch may be
//   missed by the probes (then reported inside the gap). A probe that runs
//   out of attempts ends the search; the next hb reply starts over from the
//   front.
// - Bounded memory: at most MAX_BUFFERED events (past it, events are
//   dropped and fetched later, except the one at the front) and
//   MAX_GAP_RUNS runs (past it, a new run not at the front is dropped and
//   fetched again).
import type { Clock, Timer } from '../lib/clock.js';
import type { ChallengeEvent, FetchedReply, GapEvent, HbReply, JoinedReply, SequencedEvent } from '../lib/wire.js';
import type { Endpoint } from './endpoint.js';
import { GapSearch, MAX_FETCH, SEARCH_TAIL } from './gap-search.js';
import { RETRY_CAP_MS, retryDelayMs, type RttEstimator } from './rtt.js';
import type { Counters } from './stats.js';

export { MAX_FETCH } from './gap-search.js';
/** Periods without any hb reply before the room is reported unresponsive. */
export const UNRESPONSIVE_PERIODS = 3;
/** First retry delays a datagram to the room may go unanswered, with nothing else heard, before the room is quiet. */
export const QUIET_DELAYS = 3;
/** Events buffered ahead of a hole; beyond this they are dropped and fetched later. */
const MAX_BUFFERED = 8_192;
/** Known runs of lost seqs kept ahead of delivery; beyond this a new run is dropped and fetched again. */
const MAX_GAP_RUNS = 1_024;

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
  /** A datagram to the room unanswered for QUIET_DELAYS first retry delays, nothing heard since (true); the room heard again (false). */
  quiet?(on: boolean): void;
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

interface Fetch {
  from: number;
  to: number;
  attempts: number;
  firstDelay: number;
  timer: Timer | undefined;
  /** A window of the search for the held history, not the scan at the frontier. */
  probe: boolean;
}

export class RoomSession {
  readonly room: string;
  /** The room endpoint: where the membership's datagrams go, and where the room's come from. */
  private at: Endpoint;
  readonly member: string;
  readonly nick: string;
  readonly token: string;
  readonly heartbeatMs: number;
  readonly joinedSeq: number;
  /** Highest seq delivered in order. */
  delivered: number;
  /** Highest seq known to exist in the room. */
  latest: number;
  /** Until then a NOT_MEMBER without id may be about the membership this one replaced (client/room-machine.ts). */
  notMemberGraceUntil = 0;
  /** Events above delivered, waiting for the seqs before them. */
  private readonly events = new Map<number, SequencedEvent>();
  /** Runs of seqs above delivered the room no longer holds (from -> to): disjoint, never adjacent. */
  private readonly gaps = new Map<number, number>();
  private search: GapSearch | undefined;
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
  /** The current round is at a new endpoint: its answer is no round-trip sample (the room there may still be settling). */
  private roundUnmeasured = false;
  private holeTimer: Timer | undefined;
  private fetching: Fetch | undefined;
  /** When the oldest datagram to the room not followed by anything heard from it went out. */
  private awaitingSince: number | undefined;
  private quietTimer: Timer | undefined;
  private isQuiet = false;
  private disposed = false;

  constructor(
    joined: JoinedReply,
    at: Endpoint,
    private readonly d: SessionDeps,
  ) {
    this.room = joined.room;
    this.at = at;
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

  get endpoint(): Endpoint {
    return this.at;
  }

  /** No hb reply for UNRESPONSIVE_PERIODS periods (reported through unresponsive(true)). */
  get unresponsive(): boolean {
    return this.silent;
  }

  /** Something sent to the room has gone unanswered a while, nothing heard since (reported through quiet(true)). */
  get quiet(): boolean {
    return this.isQuiet;
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
    this.search = undefined;
    this.clear(this.quietTimer);
    this.quietTimer = undefined;
    this.events.clear();
    this.gaps.clear();
  }

  /** Sends a datagram to the room with our token (say, who, leave go through here too); each expects an answer. */
  send(obj: Record<string, unknown>): void {
    if (!this.disposed && this.awaitingSince === undefined) {
      this.awaitingSince = this.d.clock.now();
      this.quietTimer = this.d.clock.setTimeout(() => {
        this.quietTimer = undefined;
        if (this.disposed || this.awaitingSince === undefined) return;
        this.isQuiet = true;
        this.d.quiet?.(true);
      }, QUIET_DELAYS * this.d.rtt.firstDelayMs());
      this.quietTimer.unref?.();
    }
    this.d.send({ ...obj, token: this.token });
  }

  /** A datagram came from the room's endpoint: it is there. */
  heard(): void {
    if (this.disposed) return;
    this.awaitingSince = undefined;
    this.clear(this.quietTimer);
    this.quietTimer = undefined;
    if (!this.isQuiet) return;
    this.isQuiet = false;
    this.d.quiet?.(false);
  }

  /**
   * The room is at endpoint `to` now, under the same membership: datagrams
   * go there from now on (the by-endpoint index is re-keyed by the caller,
   * RoomTable.moved). A fetch on its way to the old endpoint is dropped:
   * the next hb reply tells the room's seq there, and the missed range is
   * fetched from it. Quiet again only if the new endpoint is silent too.
   * Sends nothing: hbNow() does.
   */
  moveTo(to: Endpoint): void {
    if (this.disposed) return;
    this.at = to;
    this.clear(this.fetching?.timer);
    this.fetching = undefined;
    this.search = undefined;
    this.awaitingSince = undefined;
    this.clear(this.quietTimer);
    this.quietTimer = undefined;
    this.isQuiet = false;
  }

  /**
   * A new heartbeat round now (unless heartbeats are stopped): at a new
   * endpoint, whose room sends nothing before our first datagram. Its reply
   * is no round-trip sample (the room there may still be settling).
   */
  hbNow(): void {
    if (this.disposed || !this.heartbeating) return;
    this.hbUnanswered = 0;
    this.roundUnmeasured = true;
    this.heartbeat();
  }

  // ---- input from the room endpoint ------------------------------------------

  onEvent(e: SequencedEvent): void {
    if (this.disposed || e.seq <= this.delivered || this.events.has(e.seq)) return;
    this.latest = Math.max(this.latest, e.seq);
    // A full buffer still takes the one event that lets delivery move on.
    if (this.events.size >= MAX_BUFFERED && e.seq !== this.frontier()) return this.check(false);
    // An event inside a run reported lost is still delivered (it may have
    // been pushed before a restarted room lost it): the run is split around it.
    this.splitGapAt(e.seq);
    this.events.set(e.seq, e);
    this.drain();
    this.check(false);
  }

  /**
   * The room saw our token from an endpoint it does not know us at (a NAT
   * gave us a new port, or a symmetric NAT one per destination): answering
   * with the nonce from this socket moves the membership here (protocol
   * "Address changes"). The answer is an hb, so its reply counts as one.
   */
  onChallenge(c: ChallengeEvent): void {
    if (this.disposed) return;
    this.send({ type: 'hb', nonce: c.nonce });
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
      if (this.hbUnanswered === 1 && this.lastRoundSends === 1 && !this.roundUnmeasured) this.d.rtt.sample(now - this.roundStart);
      this.roundUnmeasured = false;
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
    this.markGap(g.from, g.to);
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
      this.latest = Math.max(this.delivered, r.to, this.highestKnown());
      this.search = undefined;
      this.drain();
      return this.check(this.frontier() > r.to);
    }
    if (f.probe) {
      const to = Math.min(r.to, f.to);
      this.search?.answered({ from: r.from, to }, this.firstNotGap(r.from, to));
      return this.check(true);
    }
    const front = this.frontier();
    // The whole range came back as gap, and the room is far ahead: rather
    // than walk the lost run window by window, look for where its held
    // history begins.
    if (!this.search && front > r.to && this.gaps.has(this.delivered + 1) && this.latest - SEARCH_TAIL > front) {
      this.search = new GapSearch(front, this.latest - SEARCH_TAIL);
    }
    // If the whole answered range arrived, move on at once (the 256 cap);
    // otherwise some resent events are still in flight or were lost: wait.
    this.check(front > r.to);
  }

  // ---- delivery ----------------------------------------------------------------

  /** The first seq above delivered whose fate is unknown (past a lost run held back at the front). */
  private frontier(): number {
    const s = this.delivered + 1;
    const to = this.gaps.get(s);
    return to === undefined ? s : to + 1;
  }

  /** Records from..to as lost, except the events we hold in it. */
  private markGap(from: number, to: number): void {
    from = Math.max(from, this.delivered + 1);
    if (to < from) return;
    const held: number[] = [];
    for (const s of this.events.keys()) if (s >= from && s <= to) held.push(s);
    held.sort((a, b) => a - b);
    let start = from;
    for (const s of held) {
      if (s > start) this.addGapRun(start, s - 1);
      start = s + 1;
    }
    if (start <= to) this.addGapRun(start, to);
  }

  private addGapRun(from: number, to: number): void {
    const touching: number[] = [];
    for (const [s, e] of this.gaps) if (s <= to + 1 && e >= from - 1) touching.push(s);
    if (touching.length === 0 && this.gaps.size >= MAX_GAP_RUNS && from !== this.delivered + 1) return;
    for (const s of touching) {
      from = Math.min(from, s);
      to = Math.max(to, this.gaps.get(s)!);
      this.gaps.delete(s);
    }
    this.gaps.set(from, to);
  }

  private splitGapAt(seq: number): void {
    for (const [s, e] of this.gaps) {
      if (s > seq || e < seq) continue;
      this.gaps.delete(s);
      if (s < seq) this.gaps.set(s, seq - 1);
      if (seq < e) this.gaps.set(seq + 1, e);
      return;
    }
  }

  /** The lowest seq of from..to not known to be lost, or undefined when the whole range is. */
  private firstNotGap(from: number, to: number): number | undefined {
    let s = from;
    // Runs are disjoint: each step passes one, so gaps.size + 1 steps suffice.
    for (let i = 0; i <= this.gaps.size && s <= to; i++) {
      let next = s;
      for (const [a, b] of this.gaps) if (a <= s && b >= s) next = b + 1;
      if (next === s) return s;
      s = next;
    }
    return s <= to ? s : undefined;
  }

  private highestKnown(): number {
    let m = 0;
    for (const s of this.events.keys()) if (s > m) m = s;
    for (const e of this.gaps.values()) if (e > m) m = e;
    return m;
  }

  private drain(): void {
    for (;;) {
      const s = this.delivered + 1;
      const e = this.events.get(s);
      if (e) {
        this.events.delete(s);
        this.delivered = s;
        this.restartHoleWait();
        this.d.deliver(e);
      } else {
        const to = this.gaps.get(s);
        if (to === undefined) return;
        // While what follows the run is unknown, hold it back: the next
        // fetch's answer may extend it, and a run is reported once, whole.
        if (to < this.latest && !this.events.has(to + 1)) return;
        this.gaps.delete(s);
        this.delivered = to;
        this.restartHoleWait();
        this.d.gap({ room: this.room, from: s, to });
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

  /**
   * Sends the search's next probe, or fetches the first hole; `attempts`
   * carries the tries of the fetch it narrows (still bounded by maxAttempts).
   */
  private startFetch(attempts = 0): void {
    if (this.search) {
      const w = this.search.next();
      if (w) {
        this.fetching = { ...w, attempts: 0, firstDelay: this.d.rtt.firstDelayMs(), timer: undefined, probe: true };
        return this.sendFetch(this.fetching);
      }
      this.endSearch();
      if (this.disposed || this.latest <= this.delivered) return;
    }
    const from = this.frontier();
    let to = Math.min(this.latest, from + MAX_FETCH - 1);
    for (const s of this.events.keys()) if (s > from && s - 1 < to) to = s - 1;
    for (const s of this.gaps.keys()) if (s > from && s - 1 < to) to = s - 1;
    if (to < from) return; // defensive: a known seq at `from` would have been drained
    this.fetching = { from, to, attempts, firstDelay: this.d.rtt.firstDelayMs(), timer: undefined, probe: false };
    this.sendFetch(this.fetching);
  }

  /** What the search passed over is taken as lost (GapSearch's contract), joining the run found before it. */
  private endSearch(): void {
    const s = this.search;
    this.search = undefined;
    if (s && s.lo > s.start) this.markGap(s.start, s.lo - 1);
    this.drain();
  }

  private sendFetch(f: Fetch): void {
    if (f.attempts >= this.d.maxAttempts) {
      // The next hb reply tries again (a search starts over from the frontier).
      this.fetching = undefined;
      if (f.probe) this.search = undefined;
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
      const front = this.frontier();
      if (!f.probe && front > f.from) {
        this.fetching = undefined;
        this.startFetch(front > f.to ? 0 : f.attempts);
        return;
      }
      this.sendFetch(f);
    }, delay);
    f.timer.unref?.();
    this.send({ type: 'fetch', from: f.from, to: f.to });
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
