// Supervision as a pure decision (after OTP's supervisor): given how a room
// exited, its restart history and the clock, say what to do. The process
// handling in room-actor.ts only carries the decision out.

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: string | null;
}

export interface IntensityPolicy {
  /** More than this many restarts within periodMs gives the room up. */
  readonly maxRestarts: number;
  readonly periodMs: number;
}

export type RestartDecision =
  | { action: 'restart'; delayMs: number; history: number[] }
  | { action: 'give-up'; reason: 'intensity' | 'normal-exit'; history: number[] };

/** Exit code 0 without a signal is a normal exit; everything else is a crash. */
export function isAbnormal(exit: ExitInfo): boolean {
  return exit.signal !== null || exit.code !== 0;
}

/**
 * Transient restart type: restart after an abnormal exit only. The history
 * is a sliding window of restart times (monotonic ms); a restart that would
 * make it hold more than maxRestarts within periodMs gives the room up.
 */
export function decideRestart(exit: ExitInfo, history: readonly number[], now: number, policy: IntensityPolicy): RestartDecision {
  const recent = history.filter((t) => now - t < policy.periodMs);
  if (!isAbnormal(exit)) return { action: 'give-up', reason: 'normal-exit', history: recent };
  if (recent.length >= policy.maxRestarts) return { action: 'give-up', reason: 'intensity', history: recent };
  return { action: 'restart', delayMs: 0, history: [...recent, now] };
}
