// GET /status (lib/admin-status.ts declares its shape): the service, its
// rooms as the registry and their last reports say, recent supervision
// events and, in cluster mode, the nodes.
import { createHash } from 'node:crypto';
import type { AdminStatus, ServiceState, StatusRoom } from '../../lib/admin-status.js';
import type { Clock } from '../../lib/clock.js';
import type { Config } from '../../lib/config.js';
import { VERSION } from '../../lib/version.js';
import type { ClusterPort, SupervisorStatus } from '../deps.js';
import type { RoomRegistry } from '../registry.js';
import type { RoomStatsBook } from './room-stats.js';

export interface StatusDeps {
  readonly config: Config;
  readonly clock: Clock;
  readonly registry: RoomRegistry;
  readonly served: readonly string[];
  readonly cluster: ClusterPort | undefined;
  readonly status: SupervisorStatus;
  readonly stats: RoomStatsBook;
  /** The control port bound (the config's may be 0). */
  readonly controlPort: number;
  /** Wall-clock ms when the supervisor started. */
  readonly startedAt: number;
}

export function buildStatus(d: StatusDeps): AdminStatus {
  const wall = d.clock.wall();
  const rooms = statusRooms(d);
  // live() first: it retires the rooms that are gone, into what retiredTotals returns.
  const liveEvictions = d.stats.live().reduce((n, r) => n + r.evictions, 0);
  const gone = d.stats.retiredTotals(false);
  const sum = (f: (r: StatusRoom) => number) => rooms.reduce((n, r) => n + f(r), 0);
  return {
    version: VERSION,
    node: d.cluster?.node ?? null,
    pid: process.pid,
    startedAt: new Date(d.startedAt).toISOString(),
    uptimeMs: Math.max(0, wall - d.startedAt),
    configDigest: configDigest(d.config),
    state: serviceState(d.status),
    control: { host: d.config.host, port: d.controlPort, addresses: [...d.served] },
    totals: {
      rooms: rooms.length,
      members: sum((r) => r.members),
      messagesPerSec: round(sum((r) => r.messagesPerSec)),
      deliveriesPerSec: round(sum((r) => r.deliveriesPerSec)),
      restarts: gone.restarts + sum((r) => r.restarts),
      evictions: gone.evictions + liveEvictions,
    },
    rooms,
    recent: [...d.stats.recent()],
    cluster: d.cluster ? { nodes: d.cluster.nodes(), rooms: d.cluster.listRooms().length } : null,
  };
}

function statusRooms(d: StatusDeps): StatusRoom[] {
  const out: StatusRoom[] = [];
  for (const e of d.registry.list()) {
    const rec = d.stats.record(e);
    const last = rec?.last;
    const rates = rec ? d.stats.rates(rec) : { messagesPerSec: 0, deliveriesPerSec: 0 };
    const cpu = rec && (rec.current || rec.base.cpuUserUs > 0) ? rec.totals() : undefined;
    out.push({
      room: e.name,
      state: e.state,
      port: e.port,
      pid: e.state === 'running' || e.state === 'starting' ? (e.proc?.pid ?? null) : null,
      members: e.members.size,
      seq: last?.seq ?? 0,
      messagesPerSec: round(rates.messagesPerSec),
      deliveriesPerSec: round(rates.deliveriesPerSec),
      restarts: rec?.restarts ?? 0,
      incarnation: e.incarnation,
      rssBytes: last?.rssBytes ?? null,
      cpuSeconds: cpu ? round((cpu.cpuUserUs + cpu.cpuSystemUs) / 1e6) : null,
    });
  }
  return out.sort((a, b) => (a.room < b.room ? -1 : a.room > b.room ? 1 : 0));
}

/** 'stopped' is the last moment before exit: still stopping, as far as anyone asking can tell. */
function serviceState(s: SupervisorStatus): ServiceState {
  return s === 'stopped' ? 'stopping' : s;
}

/**
 * First 16 hex digits of the SHA-256 of the config as canonical JSON (keys
 * sorted at every level): two nodes with the same digest run the same
 * settings. Secrets (adminToken) are in the hash, so a changed token shows,
 * but never in the output.
 */
export function configDigest(config: Config): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex').slice(0, 16);
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>;
    return `{${Object.keys(o)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson(o[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(v);
}

function round(n: number): number {
  return Math.round(n * 100) / 100;
}
