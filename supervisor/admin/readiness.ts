// /readyz: whether this chatd should be sent clients now. Liveness
// (/healthz) is only "the process answers"; readiness is the control port
// bound and the supervisor running, not stopping, and in cluster mode its
// NATS connection up (without it the node can neither store nor forward).
import type { ClusterPort, SupervisorStatus } from '../deps.js';

export type Readiness = { ready: true } | { ready: false; reason: string };

export interface ReadinessDeps {
  readonly status: SupervisorStatus;
  /** The control port bound; 0 until then. */
  readonly controlPort: number;
  readonly cluster: ClusterPort | undefined;
}

export function readiness(d: ReadinessDeps): Readiness {
  if (d.status === 'stopping' || d.status === 'stopped') return { ready: false, reason: 'stopping: chatd is shutting down' };
  if (d.status !== 'running' || d.controlPort === 0) return { ready: false, reason: 'starting: the control port is not serving yet' };
  if (d.cluster && !d.cluster.natsConnected()) return { ready: false, reason: 'NATS is not connected: this node can neither store nor forward' };
  return { ready: true };
}
