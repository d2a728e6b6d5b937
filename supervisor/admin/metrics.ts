// GET /metrics: one prom-client Registry in the supervisor. The room metrics
// are not kept as prom-client state: each scrape reads the room series
// (room-series.ts) once and every metric's collect() fills itself from
// them, so a room gone is a series gone and nothing grows with history.
// Every metric is documented in docs/operations.md (Metrics and alerts).
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { DROP_REASONS, LATENCY_BOUNDS_MS, RATE_LIMITED_KINDS, type LatencyCounts } from '../../lib/room-stats.js';
import { VERSION } from '../../lib/version.js';
import { roomSeries, type RoomSeries } from './room-series.js';
import type { RoomStatsBook } from './room-stats.js';
import type { RoomRegistry } from '../registry.js';

export interface MetricsDeps {
  readonly stats: RoomStatsBook;
  readonly registry: RoomRegistry;
  /** The cluster nodeName, or '' on a single node. */
  node(): string;
  /** /readyz's answer, as 1 or 0. */
  ready(): boolean;
}

type Room = { room: string };

/**
 * A histogram whose buckets the rooms counted (IPC `stats`): prom-client's
 * Histogram only observes values one at a time, so this one reports the
 * counts it is handed, in the same text format.
 */
class FedHistogram extends Histogram<'room'> {
  constructor(
    private readonly metricName: string,
    private readonly helpText: string,
    registry: Registry,
    private readonly read: () => Array<{ room: string; latency: LatencyCounts }>,
  ) {
    super({ name: metricName, help: helpText, labelNames: ['room'], buckets: LATENCY_BOUNDS_MS.map((ms) => ms / 1_000), registers: [registry] });
  }

  override async get(): Promise<Awaited<ReturnType<Histogram<'room'>['get']>>> {
    const values: Array<{ labels: Record<string, string | number>; value: number; metricName: string }> = [];
    for (const { room, latency } of this.read()) {
      let acc = 0;
      for (const [i, ms] of LATENCY_BOUNDS_MS.entries()) {
        acc += latency.counts[i] ?? 0;
        values.push({ labels: { room, le: ms / 1_000 }, value: acc, metricName: `${this.metricName}_bucket` });
      }
      const count = acc + (latency.counts[LATENCY_BOUNDS_MS.length] ?? 0);
      values.push({ labels: { room, le: '+Inf' }, value: count, metricName: `${this.metricName}_bucket` });
      values.push({ labels: { room }, value: latency.sumUs / 1e6, metricName: `${this.metricName}_sum` });
      values.push({ labels: { room }, value: count, metricName: `${this.metricName}_count` });
    }
    return { name: this.metricName, help: this.helpText, type: 'histogram', values, aggregator: 'sum' } as unknown as Awaited<ReturnType<Histogram<'room'>['get']>>;
  }

  /** What the registry calls for the text format (prom-client's Histogram has it too). */
  getForPromString(): ReturnType<FedHistogram['get']> {
    return this.get();
  }
}

export class AdminMetrics {
  readonly registry = new Registry();
  /** Read once per scrape (text()), by every room metric's collect(). */
  private series: RoomSeries[] = [];

  constructor(private readonly d: MetricsDeps) {
    const reg = this.registry;
    collectDefaultMetrics({ register: reg, prefix: 'chatd_supervisor_' });
    const each = (fn: (s: RoomSeries) => number) => () => this.series.map((s): [Room, number] => [{ room: s.room }, fn(s)]);
    const by = <K extends string>(keys: readonly K[], label: string, fn: (s: RoomSeries, k: K) => number) => () =>
      this.series.flatMap((s) => keys.map((k): [Record<string, string>, number] => [{ room: s.room, [label]: k }, fn(s, k)]));

    gauge(reg, 'chatd_info', 'chatd running: always 1, with its version and cluster node name (empty on a single node)', ['version', 'node'], () => [[{ version: VERSION, node: d.node() }, 1]]);
    gauge(reg, 'chatd_ready', '1 while /readyz answers 200 (control port bound, running, not stopping; cluster: NATS connected), else 0', [], () => [[{}, d.ready() ? 1 : 0]]);
    gauge(reg, 'chatd_rooms', 'rooms in the registry by state (starting, running, restarting)', ['state'], () => {
      const n = new Map<string, number>([['starting', 0], ['running', 0], ['restarting', 0]]);
      for (const e of d.registry.list()) n.set(e.state, (n.get(e.state) ?? 0) + 1);
      return [...n].map(([state, v]) => [{ state }, v]);
    });
    counter(reg, 'chatd_room_give_ups_total', 'rooms given up by the restart policy (members got closed): crashed, or stopped (a normal exit of a transient room)', ['reason'], () =>
      ['crashed', 'stopped'].map((reason) => [{ reason }, d.stats.giveUps.get(reason) ?? 0]),
    );

    gauge(reg, 'chatd_room_members', 'members of the room (the registry: the source of truth)', ['room'], each((s) => s.members));
    gauge(reg, 'chatd_room_seq', 'the latest seq the room handed out, as of its last report (labelled rooms only)', ['room'], () =>
      this.series.flatMap((s): Array<[Room, number]> => (s.seq === undefined ? [] : [[{ room: s.room }, s.seq]])),
    );
    counter(reg, 'chatd_joins_total', 'members added to the room', ['room'], each((s) => s.totals.joins));
    counter(reg, 'chatd_leaves_total', 'members who left (through the room or the control endpoint)', ['room'], each((s) => s.totals.leaves));
    counter(reg, 'chatd_evictions_total', 'members evicted: heartbeats stopped, or the address was never proven', ['room'], each((s) => s.evictions));
    counter(reg, 'chatd_messages_total', 'chat messages sequenced and stored', ['room'], each((s) => s.totals.says));
    counter(reg, 'chatd_deliveries_total', 'room events sent to members, one per event per member (several may share a datagram)', ['room'], each((s) => s.totals.deliveries));
    counter(reg, 'chatd_datagrams_received_total', 'datagrams the room received', ['room'], each((s) => s.totals.datagramsIn));
    counter(reg, 'chatd_datagrams_sent_total', 'datagrams the room sent', ['room'], each((s) => s.totals.datagramsOut));
    counter(reg, 'chatd_received_bytes_total', 'bytes of the datagrams the room received', ['room'], each((s) => s.totals.bytesIn));
    counter(reg, 'chatd_sent_bytes_total', 'bytes of the datagrams the room sent', ['room'], each((s) => s.totals.bytesOut));
    counter(reg, 'chatd_datagrams_dropped_total', 'datagrams the room dropped, and events dropped from members\' send queues (queue-overflow), by reason', ['room', 'reason'], by(DROP_REASONS, 'reason', (s, r) => s.totals.dropped[r]));
    counter(reg, 'chatd_rate_limited_total', 'member requests refused RATE_LIMITED, by bucket: say, or request (hb, fetch, who)', ['room', 'kind'], by(RATE_LIMITED_KINDS, 'kind', (s, k) => s.totals.rateLimited[k]));
    counter(reg, 'chatd_room_restarts_total', 'restarts of the room\'s process (crashes, hangs) decided by the restart policy', ['room'], each((s) => s.restarts));
    counter(reg, 'chatd_journal_write_errors_total', 'journal writes that failed (disk full, I/O error): the turn\'s messages were refused ROOM_UNAVAILABLE', ['room'], each((s) => s.totals.journalWriteErrors));
    new FedHistogram('chatd_journal_write_seconds', 'time of one turn\'s journal write (cluster mode: its JetStream append until stored)', reg, () =>
      this.series.map((s) => ({ room: s.room, latency: s.totals.journalWrite })),
    );
    new FedHistogram('chatd_journal_fsync_seconds', 'time of one journal fsync (journalFsync always or interval)', reg, () => this.series.map((s) => ({ room: s.room, latency: s.totals.fsync })));
    gauge(reg, 'chatd_send_queue_bytes', 'bytes waiting in the room\'s sockets\' send queues (the kernel\'s buffer was full), as of its last report', ['room'], each((s) => s.queueBytes));
    counter(reg, 'chatd_room_cpu_seconds_total', 'CPU time of the room\'s processes (every incarnation), by mode', ['room', 'mode'], by(['user', 'system'] as const, 'mode', (s, m) => (m === 'user' ? s.totals.cpuUserUs : s.totals.cpuSystemUs) / 1e6));
    gauge(reg, 'chatd_room_resident_memory_bytes', 'resident memory (RSS) of the room\'s current process, as of its last report', ['room'], each((s) => s.rssBytes));
  }

  get contentType(): string {
    return this.registry.contentType;
  }

  /** The exposition text; reads the rooms once. */
  async text(): Promise<string> {
    this.series = roomSeries(this.d.stats);
    return this.registry.metrics();
  }
}

type Values = () => Array<[Record<string, string | number>, number]>;

function gauge(registry: Registry, name: string, help: string, labelNames: string[], values: Values): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values()) this.set(labels, v);
    },
  });
}

function counter(registry: Registry, name: string, help: string, labelNames: string[], values: Values): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, v] of values()) this.inc(labels, v);
    },
  });
}
