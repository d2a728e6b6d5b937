// Round-trip time and the first retry delay (RFC 6298 style). One estimator
// per client: the control endpoint and every room endpoint are on one host,
// so they share a path. Requests, hb resends and fetch retries all start
// their backoff at firstDelayMs() and double from there.
//
// Contract:
// - sample(ms) takes the round trip of a request answered on its first send
//   (Karn's rule: a reply to a resent request may answer any of its sends,
//   so the caller does not measure it).
// - backoff(delay): a resend turned out spurious. A request whose first
//   retry delay was `delay` was answered after its resend and then answered
//   again: both sends got through, so the round trip is longer than `delay`
//   and the first answer was merely late. As in Karn's algorithm the
//   backed-off delay, 2 x delay, is kept as a floor for later first delays
//   until a clean sample arrives; without it a link whose round trip
//   exceeds retryInitialMs would never yield a sample at all. A request
//   answered once after a resend backs nothing off: on a lossy link that is
//   the common case (the first send or its answer was lost), and the round
//   trip is no longer than usual. Several requests backing off from the same
//   delay double it once, not once each.
// - First sample R: srtt = R, rttvar = R / 2. Later samples:
//   rttvar = 3/4 rttvar + 1/4 |srtt - R|, then srtt = 7/8 srtt + 1/8 R.
// - RTO = srtt + 4 x rttvar, clamped to [retryInitialMs / 2, max(2000,
//   retryInitialMs)]: the floor only matters for what stats() reports, the
//   ceiling is the backoff's own cap (RETRY_CAP_MS), so a slow link never
//   makes the client wait longer than it already does at its slowest.
// - firstDelayMs() = max(retryInitialMs, RTO, backed-off floor): before any
//   sample, and on a fast link, exactly retryInitialMs, as without the
//   estimator; on a slow or queueing link, late enough that a reply merely
//   queued is not resent.

/** Retry delays double up to this (unless retryInitialMs is larger). */
export const RETRY_CAP_MS = 2_000;

/** The delay before send number attempts + 1: firstDelay doubled per attempt, up to the cap (or firstDelay, if larger). */
export function retryDelayMs(firstDelay: number, attempts: number): number {
  return Math.min(firstDelay * 2 ** attempts, Math.max(RETRY_CAP_MS, firstDelay));
}
const ALPHA = 1 / 8;
const BETA = 1 / 4;
const K = 4;

export class RttEstimator {
  private srtt: number | undefined;
  private rttvar = 0;
  private n = 0;
  /** Karn's backed-off delay, kept until the next clean sample (0: none). */
  private backedOff = 0;
  private readonly ceiling: number;

  constructor(private readonly retryInitialMs: number) {
    this.ceiling = Math.max(RETRY_CAP_MS, retryInitialMs);
  }

  /** A request that used `usedDelayMs` as its first retry delay was resent needlessly: it was answered twice. */
  backoff(usedDelayMs: number): void {
    if (!Number.isFinite(usedDelayMs) || usedDelayMs <= 0) return;
    this.backedOff = Math.max(this.backedOff, Math.min(this.ceiling, 2 * usedDelayMs));
  }

  /** One round trip of a request answered on its first send. */
  sample(ms: number): void {
    if (!Number.isFinite(ms) || ms < 0) return;
    this.n++;
    this.backedOff = 0;
    if (this.srtt === undefined) {
      this.srtt = ms;
      this.rttvar = ms / 2;
      return;
    }
    this.rttvar = (1 - BETA) * this.rttvar + BETA * Math.abs(this.srtt - ms);
    this.srtt = (1 - ALPHA) * this.srtt + ALPHA * ms;
  }

  /** srtt + 4 rttvar, clamped; retryInitialMs before the first sample. */
  rtoMs(): number {
    if (this.srtt === undefined) return this.retryInitialMs;
    return Math.min(this.ceiling, Math.max(this.retryInitialMs / 2, this.srtt + K * this.rttvar));
  }

  /** The first retry delay: max(retryInitialMs, RTO, backed-off floor), whole milliseconds. */
  firstDelayMs(): number {
    return Math.ceil(Math.max(this.retryInitialMs, this.rtoMs(), this.backedOff));
  }

  get srttMs(): number | undefined {
    return this.srtt;
  }

  get rttvarMs(): number | undefined {
    return this.srtt === undefined ? undefined : this.rttvar;
  }

  get samples(): number {
    return this.n;
  }
}
