// What join() (client/join-retry.ts) and a rejoin (client/rejoin.ts) share: a
// series of join attempts on the control endpoint, one on the wire at a
// time (inFlight, so an owner that stops the series can still collect its
// `joined`), the next one on a timer, and stop() that ends the series.
import type { Clock, Timer } from '../lib/clock.js';
import type { JoinedReply } from '../lib/wire.js';
import { ClientError } from './client-error.js';

export type JoinOutcome = { joined: JoinedReply } | { error: ClientError };

export abstract class JoinLoop {
  stopped = false;
  /** The join attempt on the wire, if any. */
  inFlight: Promise<JoinedReply> | undefined;
  private timer: Timer | undefined;

  constructor(private readonly clock: Clock) {}

  /** No more attempts; one on the wire is left to whoever awaits inFlight. */
  stop(): void {
    this.stopped = true;
    if (this.timer) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Runs fn after ms (stop() cancels it). */
  protected after(ms: number, fn: () => void): void {
    this.timer = this.clock.setTimeout(() => {
      this.timer = undefined;
      fn();
    }, ms);
    this.timer.unref?.();
  }

  /** One attempt: its `joined`, or its failure as a ClientError; inFlight while it is on the wire. */
  protected async tryJoin(join: () => Promise<JoinedReply>): Promise<JoinOutcome> {
    const attempt = join();
    this.inFlight = attempt;
    try {
      return { joined: await attempt };
    } catch (err) {
      return { error: err instanceof ClientError ? err : new ClientError('INTERNAL', err instanceof Error ? err.message : String(err)) };
    } finally {
      if (this.inFlight === attempt) this.inFlight = undefined;
    }
  }
}
