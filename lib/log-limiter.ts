// Rate-limits log lines of one kind (e.g. spoof warnings): a flood of bad
// datagrams must not become a flood of log lines. Suppressed lines are
// counted and reported on the next line that gets through.
import type { Clock } from './clock.js';
import type { Logger } from './logger.js';
import { TokenBucket } from './token-bucket.js';

export class LogLimiter {
  private readonly buckets = new Map<string, { bucket: TokenBucket; suppressed: number }>();

  constructor(
    private readonly log: Logger,
    private readonly clock: Clock,
    private readonly perSec = 5,
    private readonly burst = 20,
  ) {}

  warn(event: string, fields: Record<string, unknown>, msg: string): void {
    this.write('warn', event, fields, msg);
  }

  info(event: string, fields: Record<string, unknown>, msg: string): void {
    this.write('info', event, fields, msg);
  }

  debug(event: string, fields: Record<string, unknown>, msg: string): void {
    if (this.log.isLevelEnabled('debug')) this.write('debug', event, fields, msg);
  }

  private write(level: 'warn' | 'info' | 'debug', event: string, fields: Record<string, unknown>, msg: string): void {
    const now = this.clock.now();
    let e = this.buckets.get(event);
    if (!e) {
      e = { bucket: new TokenBucket(this.perSec, this.burst, now), suppressed: 0 };
      this.buckets.set(event, e);
    }
    if (!e.bucket.take(now)) {
      e.suppressed++;
      return;
    }
    const suppressed = e.suppressed;
    e.suppressed = 0;
    this.log[level]({ event, ...fields, ...(suppressed > 0 ? { suppressed } : {}) }, msg);
  }
}
