// Scenario 1, fan-out: one room of N members (one of them the sender, whose
// own copy of each msg is its ack); the sender offers `say`s of ~100
// characters at a fixed rate for a few seconds, per step of a rate ladder;
// the other members, spread over worker processes, count what arrives.
import type { Chatd } from './chatd-process.js';
import { MemberPool } from './member-pool.js';
import { benchText, parseBenchText } from './members-ipc.js';
import { cpuSeconds, hostBusySeconds, runQueueWaitSeconds, selfCpuSeconds, udpDrops } from './proc-stat.js';
import { LogHistogram } from './stats.js';
import { fmt } from './table.js';
import { clientAddress, nowUs, sleep, UdpPeer, type Membership, type Obj } from './udp.js';

export interface FanoutOptions {
  members: number;
  /** Offered msgs/s, ascending; the ladder stops after the first step over maxLossPct. */
  rates: number[];
  stepMs: number;
  workers: number;
  maxLossPct: number;
}

export interface FanoutRow {
  members: number;
  offered: number;
  sent: number;
  sendRate: number;
  deliveries: number;
  deliveriesPerS: number;
  lossPct: number;
  p50Ms: number;
  p99Ms: number;
  eventsPerDatagram: number;
  roomCpuPct: number;
  roomCpuSPerM: number;
  /** Time the room process was runnable but not running (waiting for a core). */
  roomWaitPct: number;
  supervisorCpuPct: number;
  senderCpuPct: number;
  membersCpuPct: number;
  rcvbufDrops: number;
  /** Host CPU busy minus the processes above: other work on the machine. */
  otherCpuPct: number;
  /** Error replies the sender got during the step, by code. */
  senderErrors: Record<string, number>;
}

export const FANOUT_HEADERS = ['members', 'offered msg/s', 'sent msg/s', 'deliveries/s', 'loss %', 'p50 ms', 'p99 ms', 'msgs/dgram', 'rcvbuf drops'];

export function fanoutCells(r: FanoutRow): string[] {
  return [
    String(r.members),
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

/** The sender's own copies (acks), counted like a member's deliveries. */
class SelfCounter {
  msgs = 0;
  datagrams = 0;
  lastUs = 0;
  latency = new LogHistogram();
  /** Error replies to the sender (e.g. RATE_LIMITED), by code: they would make the figures meaningless. */
  errors = new Map<string, number>();
  constructor(readonly tag: string) {}
  onDatagram(objs: Obj[], atUs: number): void {
    let any = false;
    for (const o of objs) {
      if (o['type'] === 'error') this.errors.set(String(o['code']), (this.errors.get(String(o['code'])) ?? 0) + 1);
      if (o['type'] !== 'msg') continue;
      const b = parseBenchText(o['text']);
      if (!b || b.tag !== this.tag) continue;
      this.msgs++;
      this.lastUs = atUs;
      this.latency.record(atUs - b.sentUs);
      any = true;
    }
    if (any) this.datagrams++;
  }
}

/**
 * Offers `rate` says per second for durationMs: every ~1 ms timer tick sends
 * the says that are due by then (so at 10k msgs/s they leave in bursts of
 * ~10), which keeps the driver's own CPU low on a 2-core machine.
 */
async function sendPaced(peer: UdpPeer, m: Membership, rate: number, durationMs: number, tag: string): Promise<{ sent: number; startUs: number; endUs: number }> {
  const total = Math.round((rate * durationMs) / 1000);
  const startUs = nowUs();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((nowUs() - startUs) * rate) / 1e6) + 1);
    while (sent < due) {
      const text = benchText(tag, nowUs());
      peer.send({ type: 'say', token: m.token, id: `${tag}-${sent}`, text }, m.port);
      sent++;
    }
    await sleep(1);
  }
  return { sent, startUs, endUs: nowUs() };
}

export async function runFanout(chatd: Chatd, o: FanoutOptions, onRow: (r: FanoutRow) => void): Promise<FanoutRow[]> {
  const room = `fanout-${o.members}`;
  const sender = await UdpPeer.open(clientAddress(10, 0), 4 << 20);
  const pool = MemberPool.start(o.workers);
  const rows: FanoutRow[] = [];
  try {
    const sm = await sender.join(chatd.port, room, 'sender');
    const roomPid = await chatd.roomPid(room);
    const nicks = Array.from({ length: o.members - 1 }, (_, i) => `m${i}`);
    await pool.join(chatd.port, room, nicks, 20);

    const step = async (rate: number, durationMs: number, tag: string): Promise<FanoutRow> => {
      const self = new SelfCounter(tag);
      sender.onDatagram = (objs, at) => self.onDatagram(objs, at);
      const snap = () => ({
        room: cpuSeconds(roomPid),
        roomWait: runQueueWaitSeconds(roomPid),
        sup: cpuSeconds(chatd.pid),
        self: selfCpuSeconds(),
        members: pool.cpuSeconds(),
        host: hostBusySeconds(),
      });
      const cpu0 = snap();
      const drops0 = udpDrops();
      const s = await sendPaced(sender, sm, rate, durationMs, tag);
      // Drain: until every delivery arrived, or nothing new came for 300 ms (bounded: 3 s).
      const expected = s.sent * o.members;
      const drainUntil = Date.now() + 3_000;
      let last = -1;
      let quiet = 0;
      let t = await pool.report(tag);
      while (Date.now() < drainUntil) {
        const got = t.msgs + self.msgs;
        if (got >= expected) break;
        quiet = got === last ? quiet + 1 : 0;
        if (quiet >= 3) break;
        last = got;
        await sleep(100);
        t = await pool.report(tag);
      }
      const cpu1 = snap();
      const drops1 = udpDrops();
      const deliveries = t.msgs + self.msgs;
      const lastUs = Math.max(t.lastUs, self.lastUs, s.endUs);
      const activeS = (lastUs - s.startUs) / 1e6;
      const latency = t.latency;
      latency.merge(self.latency.toData());
      const pct = (cpu: number) => (100 * cpu) / activeS;
      return {
        members: o.members,
        offered: rate,
        sent: s.sent,
        sendRate: s.sent / ((s.endUs - s.startUs) / 1e6),
        deliveries,
        deliveriesPerS: deliveries / activeS,
        lossPct: expected === 0 ? 0 : (100 * (expected - deliveries)) / expected,
        p50Ms: latency.percentile(50) / 1000,
        p99Ms: latency.percentile(99) / 1000,
        eventsPerDatagram: deliveries / (t.datagrams + self.datagrams),
        roomCpuPct: pct(cpu1.room - cpu0.room),
        roomCpuSPerM: deliveries === 0 ? NaN : ((cpu1.room - cpu0.room) / deliveries) * 1e6,
        supervisorCpuPct: pct(cpu1.sup - cpu0.sup),
        senderCpuPct: pct(cpu1.self - cpu0.self),
        membersCpuPct: pct(cpu1.members - cpu0.members),
        rcvbufDrops: drops1.rcvbuf - drops0.rcvbuf,
        roomWaitPct: pct(cpu1.roomWait - cpu0.roomWait),
        senderErrors: Object.fromEntries(self.errors),
        otherCpuPct: pct(cpu1.host - cpu0.host - (cpu1.room - cpu0.room) - (cpu1.sup - cpu0.sup) - (cpu1.self - cpu0.self) - (cpu1.members - cpu0.members)),
      };
    };

    // Warm-up (not reported): the room's JIT and the sockets settle.
    await step(o.rates[0]!, 1_000, 'warm');
    for (const rate of o.rates) {
      const row = await step(rate, o.stepMs, `r${rate}`);
      // A step is only meaningful if the same chatd and room process served all of it.
      const exit = chatd.exitInfo();
      if (exit) throw new Error(`chatd exited during the fan-out (code ${exit.code}, signal ${exit.signal})`);
      if (chatd.roomPids().length !== 1) throw new Error(`the room process of ${room} was restarted during the fan-out (pids ${chatd.roomPids().join(', ')})`);
      rows.push(row);
      onRow(row);
      if (row.lossPct > o.maxLossPct) break;
      await sleep(200);
    }
    return rows;
  } finally {
    await pool.stop();
    sender.close();
  }
}
