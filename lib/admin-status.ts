// The shape of the admin listener's GET /status (supervisor/admin/), declared
// once: the supervisor builds it, `chatd status` and the status page read
// it. Like NATS's /varz: one JSON object, everything an operator asks first.

export type ServiceState = 'starting' | 'running' | 'stopping';

export interface StatusRoom {
  room: string;
  /** The registry's state: starting, running, restarting (deleting rooms are not listed). */
  state: string;
  /** Its UDP port (kept across restarts; 0 until the first process has bound it). */
  port: number;
  /** The current process, if one runs. */
  pid: number | null;
  members: number;
  /** The latest seq handed out, as of the room's last report (0 before its first). */
  seq: number;
  /** Per second over the room's last stats interval (0 once its reports stop). */
  messagesPerSec: number;
  deliveriesPerSec: number;
  /** Restarts in the room's life (not only in the restart window). */
  restarts: number;
  /** 1 for the first process, +1 per restart. */
  incarnation: number;
  /** Of the current process, from its last report; null before it. */
  rssBytes: number | null;
  /** CPU (user + system) of every process the room has had, in seconds; null before the first report. */
  cpuSeconds: number | null;
}

export type RecentEventKind = 'room_restarted' | 'room_gave_up' | 'member_evicted';

export interface RecentEvent {
  /** ISO 8601, wall clock. */
  at: string;
  event: RecentEventKind;
  room: string;
  /** One line for people (what exited how, who was evicted after how long). */
  detail: string;
}

export interface StatusClusterNode {
  node: string;
  /** The address it advertises to clients, and its control port. */
  host: string;
  port: number;
  /** This node. */
  self: boolean;
}

export interface AdminStatus {
  version: string;
  /** The cluster nodeName; null on a single node. */
  node: string | null;
  pid: number;
  /** ISO 8601. */
  startedAt: string;
  uptimeMs: number;
  /** First 16 hex digits of the SHA-256 of the canonical config JSON (secrets are hashed, never shown). */
  configDigest: string;
  state: ServiceState;
  control: { host: string; port: number; addresses: string[] };
  totals: {
    rooms: number;
    members: number;
    messagesPerSec: number;
    deliveriesPerSec: number;
    /** Since chatd started, every room's (deleted rooms' too). */
    restarts: number;
    evictions: number;
  };
  /** Sorted by name. */
  rooms: StatusRoom[];
  /** The last 50, newest first. */
  recent: RecentEvent[];
  /** null on a single node. */
  cluster: null | { nodes: StatusClusterNode[]; rooms: number };
}
