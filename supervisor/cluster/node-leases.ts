// Node liveness in cluster mode: each node renews a lease (a key in a KV
// bucket whose entries expire after nodeLeaseMs) every third of it; a node
// whose key is gone lost its rooms to the others (failover.ts). A node also
// knows when its own lease may have lapsed — nodeLeaseMs after the send of
// its last renewal that was stored — and from then on it must assume its
// rooms are being taken (their journals fence it anyway).
import type { Clock, Timer } from '../../lib/clock.js';
import type { Logger } from '../../lib/logger.js';

export interface NodeInfo {
  node: string;
  boot: string;
  /** The advertised address and control port, for operators. */
  host: string;
  port: number;
}

/** The lease bucket as the leases use it (KV over NATS; tests use a fake). */
export interface LeaseStore {
  put(node: string, info: NodeInfo): Promise<void>;
  /** Every node whose lease has not expired, by name. */
  live(): Promise<Map<string, NodeInfo>>;
}

export class NodeLeases {
  /** Clock time at which the last stored renewal was sent (0: none yet). */
  private renewedAt = 0;
  /** Clock time at which the first renewal of the current unbroken run was sent. */
  private heldSince = 0;
  private timer: Timer | undefined;
  private stopped = false;
  private failing = false;

  constructor(
    private readonly store: LeaseStore,
    private readonly clock: Clock,
    private readonly info: NodeInfo,
    private readonly leaseMs: number,
    private readonly log: Logger,
  ) {}

  /** Renews once (resolves when stored, or rejects), then every third of the lease. */
  async start(): Promise<void> {
    await this.renew(true);
    this.schedule();
  }

  /** Whether this node's lease is certainly still held: its last renewal was sent less than a lease ago, with a margin. */
  holds(): boolean {
    return this.renewedAt > 0 && this.clock.now() - this.renewedAt < this.leaseMs - this.leaseMs / 6;
  }

  /**
   * How long this node has held its lease without a break. While it is
   * short, NATS may just have come back and every lease may have lapsed at
   * once: the others need time to renew theirs before their absence means
   * anything (failover.ts).
   */
  steadyMs(): number {
    return this.holds() ? this.clock.now() - this.heldSince : 0;
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.clock.setTimeout(() => void this.renew(false).finally(() => this.schedule()), Math.floor(this.leaseMs / 3));
    this.timer.unref?.();
  }

  private async renew(first: boolean): Promise<void> {
    const sent = this.clock.now();
    try {
      await this.store.put(this.info.node, this.info);
      if (!this.holds()) this.heldSince = sent;
      this.renewedAt = Math.max(this.renewedAt, sent);
      if (this.failing) this.log.info({ event: 'node_lease_renewed', node: this.info.node }, 'node lease renewed again');
      this.failing = false;
    } catch (err) {
      if (first) throw err;
      if (!this.failing) this.log.warn({ event: 'node_lease_failing', node: this.info.node, err }, 'cannot renew the node lease; rooms may be taken over if this lasts');
      this.failing = true;
    }
  }
}
