// Scenario 1, fan-out: one room of N members (one or more of them senders,
// whose own copies of each msg are their acks); the senders offer messages of
// ~100 characters at a fixed total rate for a few seconds, per step of a rate
// ladder; the other members, spread over worker processes, count what
// arrives. The same driver runs against chatd and against the comparison's
// baselines (targets.ts), and against several chatd rooms at once (the
// many-rooms scenario, many-rooms.ts).
import { MemberPool } from './member-pool.js';
import { benchText } from './members-ipc.js';
import { trackedPids } from '../test/helpers/pids.js';
import { cpuSeconds, hostBusySeconds, peakRssBytes, rssBytes, runQueueWaitSeconds, selfCpuSeconds, udpDrops } from './proc-stat.js';
import { LogHistogram } from './stats.js';
import { fmt } from './table.js';
import type { BenchMsg, FanoutTarget, Sender, TargetKind } from './targets.js';
import { nowUs, sleep } from './udp.js';

/** A step sustained its rate with at most this loss ... */
export const SUSTAINED_LOSS_PCT = 1;
/** ... and deliveries at this share of the rate offered at least. */
export const KEPT_UP_SHARE = 0.95;

/**
 * A step sustained its rate if at most SUSTAINED_LOSS_PCT of the deliveries
 * were missing and they came at KEPT_UP_SHARE of the rate offered at least
 * (deliveries over the time from the first send to the last arrival): a
 * server that queues (Socket.IO's TCP buffers, chatd's socket buffer) and
 * delivers everything within the drain has not sustained the rate. The
 * offered rate is the step's, not what the driver managed to send: a driver
 * starved of CPU (20 room processes on 2 cores) did not offer the step.
 */
export function sustained(r: FanoutRow): boolean {
  return r.lossPct <= SUSTAINED_LOSS_PCT && r.deliveriesPerS >= KEPT_UP_SHARE * r.offered * r.members;
}

export interface FanoutOptions {
  members: number;
  /** Offered msgs/s, ascending; the ladder stops after the first step over maxLossPct. */
  rates: number[];
  stepMs: number;
  workers: number;
  maxLossPct: number;
  /**
   * A rate the ladder reaches even if a lower step failed (the comparison's
   * reference rate): after a failed step only this one is still run. Without
   * it the ladder stops after the first step over maxLossPct.
   */
  refRate?: number;
  /**
   * Runs a step that did not sustain its rate (sustained()) once more if
   * other work on the host used over CONTENDED_PCT of a core during it,
   * after waiting (up to 5 s) for the host to be quieter; the second attempt
   * decides whether the target stays on the ladder. At most this many
   * retries per ladder (they bound the run time); 0 = none.
   */
  retryContended?: number;
}

export interface FanoutRow {
  target: TargetKind;
  /** Rooms loaded at once (1 but in the many-rooms scenario); every figure below is their sum. */
  rooms: number;
  /** Members per room. */
  members: number;
  /** Senders per room; the offered rate is split evenly over all senders of all rooms. */
  senders: number;
  /** 1, or 2 for a step run again because the first attempt failed on a busy host (retryContended). */
  attempt: number;
  /** Offered msgs/s, all rooms and senders together. */
  offered: number;
  sent: number;
  /** Msgs/s sent, all rooms and senders together. */
  sendRate: number;
  deliveries: number;
  deliveriesPerS: number;
  lossPct: number;
  p50Ms: number;
  p99Ms: number;
  /** msg events per datagram received; NaN for Socket.IO (websocket messages, one event each). */
  eventsPerDatagram: number;
  /** The server process: chatd's room (summed over the rooms), the relay, the Socket.IO server. */
  roomCpuPct: number;
  roomCpuSPerM: number;
  /** Time the room process was runnable but not running (waiting for a core); summed over the rooms. */
  roomWaitPct: number;
  /** RSS of the server process at the end of the step, and its peak so far (VmHWM). */
  serverRssBytes: number;
  serverPeakRssBytes: number;
  /** chatd's supervisor; NaN for the baselines. */
  supervisorCpuPct: number;
  senderCpuPct: number;
  membersCpuPct: number;
  /** The member workers' CPU seconds per million deliveries (the receiving side's cost). */
  membersCpuSPerM: number;
  rcvbufDrops: number;
  /** Host CPU busy minus the processes above: other work on the machine. */
  otherCpuPct: number;
  /** Error replies the sender got during the step, by code. */
  senderErrors: Record<string, number>;
}

export const FANOUT_HEADERS = ['members', 'senders', 'offered msg/s', 'sent msg/s', 'deliveries/s', 'loss %', 'p50 ms', 'p99 ms', 'msgs/dgram', 'rcvbuf drops'];

export function fanoutCells(r: FanoutRow): string[] {
  return [
    String(r.members),
    String(r.senders),
    fmt(r.offered),
    fmt(r.sendRate),
    fmt(r.deliveriesPerS),
    fmt(r.lossPct, 2),
    fmt(r.p50Ms, 2),
    fmt(r.p99Ms, 2),
    fmt(r.eventsPerDatagram, 2),
    fmt(r.rcvbufDrops),
  ];
}

export const FANOUT_CPU_HEADERS = [
  'members',
  'senders',
  'offered msg/s',
  'room CPU %',
  'room CPU s/M deliv',
  'room waiting %',
  'sup CPU %',
  'driver CPU %',
  'member workers CPU %',
  'other CPU %',
];

export function fanoutCpuCells(r: FanoutRow): string[] {
  return [
    String(r.members),
    String(r.senders),
    fmt(r.offered),
    fmt(r.roomCpuPct),
    fmt(r.roomCpuSPerM, 1),
    fmt(r.roomWaitPct),
    fmt(r.supervisorCpuPct, 1),
    fmt(r.senderCpuPct),
    fmt(r.membersCpuPct),
    fmt(r.otherCpuPct) + (r.otherCpuPct > CONTENDED_PCT ? ' *' : '  '),
  ];
}

/** Other work on the host above this (% of one core) marks a step as contended. */
export const CONTENDED_PCT = 25;

/**
 * Waits (at most maxMs) until other work on the host — busy time minus
 * every process the bench started and the bench itself — stays under
 * CONTENDED_PCT of a core for a 250 ms sample. Used before a step is run
 * again, so that the second attempt is not as contended as the first.
 */
async function waitForQuiet(maxMs: number): Promise<void> {
  const until = Date.now() + maxMs;
  while (Date.now() < until) {
    const ours = () => trackedPids().reduce((a, p) => a + (cpuSeconds(p) || 0), 0) + selfCpuSeconds();
    const h0 = hostBusySeconds();
    const o0 = ours();
    const t0 = Date.now();
    await sleep(250);
    const otherPct = (100 * (hostBusySeconds() - h0 - (ours() - o0))) / ((Date.now() - t0) / 1000);
    if (otherPct < CONTENDED_PCT) return;
  }
}

/** What the senders receive (their own msgs' copies, which are their acks, and the other senders' msgs), counted like a member's deliveries. */
class SelfCounter {
  msgs = 0;
  datagrams = 0;
  lastUs = 0;
  latency = new LogHistogram();
  /** Error replies to the sender (e.g. RATE_LIMITED), by code: they would make the figures meaningless. */
  errors = new Map<string, number>();
  constructor(readonly tag: string) {}
  onReceive(msgs: BenchMsg[], atUs: number): void {
    let any = false;
    for (const b of msgs) {
      if (b.tag !== this.tag) continue;
      this.msgs++;
      this.lastUs = atUs;
      this.latency.record(atUs - b.sentUs);
      any = true;
    }
    if (any) this.datagrams++;
  }
  onError(code: string): void {
    this.errors.set(code, (this.errors.get(code) ?? 0) + 1);
  }
}

/**
 * Offers `rate` messages per second in all, split evenly over the senders,
 * for durationMs: every ~1 ms timer tick sends the ones that are due by then
 * (so at 10k msgs/s they leave in bursts of ~10), which keeps the driver's
 * own CPU low on a 2-core machine. Sender j's schedule is shifted by j/n of
 * its interval, as independent clients' would be: n senders (in one room,
 * or one per room) at 100 msgs/s each do not all send in the same tick
 * every 10 ms. Returns the messages sent in all.
 */
async function sendPaced(senders: Sender[], rate: number, durationMs: number, tag: string): Promise<{ sent: number; startUs: number; endUs: number }> {
  const n = senders.length;
  const each = rate / n;
  const total = Math.round((each * durationMs) / 1000);
  const sent = new Array<number>(n).fill(0);
  const startUs = nowUs();
  let all = 0;
  while (all < total * n) {
    const intervals = ((nowUs() - startUs) * each) / 1e6;
    for (let j = 0; j < n; j++) {
      const due = Math.min(total, Math.floor(intervals - j / n) + 1);
      let k = sent[j]!;
      for (; k < due; k++) senders[j]!.say(`${tag}-${k}`, benchText(tag, nowUs()));
      all += k - sent[j]!;
      sent[j] = k;
    }
    await sleep(1);
  }
  return { sent: all, startUs, endUs: nowUs() };
}

/**
 * One or more rooms (targets of one kind, all of `members` members) with
 * their member workers joined — each room's members less its senders —
 * ready to run steps. The targets themselves are the caller's to close.
 */
export class FanoutSession {
  private constructor(
    readonly targets: FanoutTarget[],
    readonly members: number,
    private readonly pool: MemberPool,
    /** The first address block the members did not use (for another session's firstBlock). */
    readonly nextBlock: number,
  ) {}

  /**
   * Starts the member workers and joins every room's members: one room's
   * members bind addresses of blocks firstBlock, firstBlock + 1, ... (one per
   * worker: see MemberPool.join), the next room's the blocks after those, so
   * that no two members share an address.
   */
  static async open(targets: FanoutTarget[], members: number, workers: number, firstBlock = 20): Promise<FanoutSession> {
    const pool = MemberPool.start(workers);
    let block = firstBlock;
    try {
      for (const t of targets) {
        await pool.join(
          t.members,
          Array.from({ length: members - t.senders.length }, (_, i) => `m${i}`),
          block,
        );
        block += pool.pids.length;
      }
    } catch (err) {
      await pool.stop();
      throw err;
    }
    return new FanoutSession(targets, members, pool, block);
  }

  /** Throws if a server died or was restarted (see FanoutTarget.check). */
  check(): void {
    for (const t of this.targets) t.check();
  }

  /** Offers `rate` msgs/s (all rooms together) for durationMs, then waits for the deliveries (drainMs at most) and measures. */
  async step(rate: number, durationMs: number, tag: string, attempt = 1, drainMs = 3_000): Promise<FanoutRow> {
    const serverPids = this.targets.map((t) => t.serverPid);
    const helperPid = this.targets[0]!.helperPid;
    const senders = this.targets.flatMap((t) => t.senders);
    const self = new SelfCounter(tag);
    for (const sender of senders) {
      sender.onReceive = (msgs, at) => self.onReceive(msgs, at);
      sender.onError = (code) => self.onError(code);
    }
    const sum = (f: (pid: number) => number) => serverPids.reduce((a, p) => a + f(p), 0);
    const snap = () => ({
      room: sum(cpuSeconds),
      roomWait: sum(runQueueWaitSeconds),
      sup: helperPid === undefined ? NaN : cpuSeconds(helperPid),
      self: selfCpuSeconds(),
      members: this.pool.cpuSeconds(),
      host: hostBusySeconds(),
    });
    const cpu0 = snap();
    const drops0 = udpDrops();
    const s = await sendPaced(senders, rate, durationMs, tag);
    // Drain: until every delivery arrived, or nothing new came for 300 ms (bounded: drainMs).
    const expected = s.sent * this.members;
    const drainUntil = Date.now() + drainMs;
    let last = -1;
    let quiet = 0;
    let t = await this.pool.report(tag);
    while (Date.now() < drainUntil) {
      const got = t.msgs + self.msgs;
      if (got >= expected) break;
      quiet = got === last ? quiet + 1 : 0;
      if (quiet >= 3) break;
      last = got;
      await sleep(100);
      t = await this.pool.report(tag);
    }
    const cpu1 = snap();
    const drops1 = udpDrops();
    const deliveries = t.msgs + self.msgs;
    const lastUs = Math.max(t.lastUs, self.lastUs, s.endUs);
    const activeS = (lastUs - s.startUs) / 1e6;
    const latency = t.latency;
    latency.merge(self.latency.toData());
    const pct = (cpu: number) => (100 * cpu) / activeS;
    const helperCpu = helperPid === undefined ? 0 : cpu1.sup - cpu0.sup;
    return {
      target: this.targets[0]!.kind,
      rooms: this.targets.length,
      members: this.members,
      senders: this.targets[0]!.senders.length,
      attempt,
      offered: rate,
      sent: s.sent,
      sendRate: s.sent / ((s.endUs - s.startUs) / 1e6),
      deliveries,
      deliveriesPerS: deliveries / activeS,
      lossPct: expected === 0 ? 0 : (100 * (expected - deliveries)) / expected,
      p50Ms: latency.percentile(50) / 1000,
      p99Ms: latency.percentile(99) / 1000,
      eventsPerDatagram: this.targets[0]!.datagrams ? deliveries / (t.datagrams + self.datagrams) : NaN,
      roomCpuPct: pct(cpu1.room - cpu0.room),
      roomCpuSPerM: deliveries === 0 ? NaN : ((cpu1.room - cpu0.room) / deliveries) * 1e6,
      serverRssBytes: sum(rssBytes),
      serverPeakRssBytes: sum(peakRssBytes),
      supervisorCpuPct: pct(cpu1.sup - cpu0.sup),
      senderCpuPct: pct(cpu1.self - cpu0.self),
      membersCpuPct: pct(cpu1.members - cpu0.members),
      membersCpuSPerM: deliveries === 0 ? NaN : ((cpu1.members - cpu0.members) / deliveries) * 1e6,
      rcvbufDrops: drops1.rcvbuf - drops0.rcvbuf,
      roomWaitPct: pct(cpu1.roomWait - cpu0.roomWait),
      senderErrors: Object.fromEntries(self.errors),
      otherCpuPct: pct(cpu1.host - cpu0.host - (cpu1.room - cpu0.room) - helperCpu - (cpu1.self - cpu0.self) - (cpu1.members - cpu0.members)),
    };
  }

  /** Waits (bounded) until the workers stop receiving messages of a tag (a backlog, e.g. Socket.IO's TCP buffers). */
  async settle(tag: string, maxMs: number): Promise<void> {
    const until = Date.now() + maxMs;
    let last = -1;
    while (Date.now() < until) {
      const got = (await this.pool.report(tag)).msgs;
      if (got === last) return;
      last = got;
      await sleep(300);
    }
  }

  close(): Promise<void> {
    return this.pool.stop();
  }
}

/**
 * Runs the rate ladder against one target whose sender is ready: the member
 * workers join it, then a warm-up step and the ladder.
 */
export async function runFanout(target: FanoutTarget, o: FanoutOptions, onRow: (r: FanoutRow) => void): Promise<FanoutRow[]> {
  const session = await FanoutSession.open([target], o.members, o.workers);
  try {
    return await runLadder([session], o, onRow);
  } finally {
    await session.close();
  }
}

/**
 * Runs the ladder over several sessions (one room size), interleaved: at
 * each rate every target still on the ladder runs its step, one after the
 * other, the order rotated from rate to rate, so that whatever else loads
 * the machine weighs on all of them alike. A target leaves the ladder after
 * its first step over maxLossPct; with refRate, a target that failed below
 * it still runs the refRate step (after its backlog has drained).
 */
export async function runLadder(sessions: FanoutSession[], o: FanoutOptions, onRow: (r: FanoutRow) => void): Promise<FanoutRow[]> {
  const rows: FanoutRow[] = [];
  const state = sessions.map(() => ({ done: false, failed: false }));
  let retries = 0;
  // Warm-up (not reported): the servers' JIT and the sockets settle.
  for (const s of sessions) await s.step(o.rates[0]!, 1_000, 'warm');
  for (const [k, rate] of o.rates.entries()) {
    for (let j = 0; j < sessions.length; j++) {
      const i = (j + k) % sessions.length;
      const s = sessions[i]!;
      const st = state[i]!;
      if (st.done || (st.failed && rate !== o.refRate)) continue;
      let row = await s.step(rate, o.stepMs, `r${rate}`);
      // A step is only meaningful if the same server process served all of it.
      s.check();
      rows.push(row);
      onRow(row);
      if (retries < (o.retryContended ?? 0) && !sustained(row) && row.otherCpuPct > CONTENDED_PCT) {
        retries++;
        await s.settle(`r${rate}`, 15_000);
        await waitForQuiet(5_000);
        row = await s.step(rate, o.stepMs, `r${rate}b`, 2);
        s.check();
        rows.push(row);
        onRow(row);
      }
      if (row.lossPct > o.maxLossPct) {
        if (o.refRate === undefined || rate >= o.refRate) st.done = true;
        else {
          st.failed = true;
          await s.settle(row.attempt === 1 ? `r${rate}` : `r${rate}b`, 15_000);
        }
      }
      await sleep(200);
    }
  }
  return rows;
}
