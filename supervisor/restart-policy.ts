// Supervision as a pure decision (after OTP's supervisor): given how a room
// exited, its restart type, its restart history, the clock and a random
// source, say what to do. The process handling in room-lifecycle.ts only
// carries the decision out.
import type { RestartSettings } from '../lib/config.js';

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: string | null;
  /** The process could not be started at all (errno code, e.g. EMFILE): a failed start, so a crash. */
  readonly spawnError?: string;
}

/** The restart* keys of the config, for one room (restartPolicyOf). */
export type RestartPolicy = RestartSettings;

export type GiveUpReason = 'intensity' | 'normal-exit' | 'temporary';

export type RestartDecision =
  | { action: 'restart'; delayMs: number; history: number[] }
  | { action: 'give-up'; reason: GiveUpReason; history: number[] };

/** Exit code 0 without a signal is a normal exit; everything else is a crash. */
export function isAbnormal(exit: ExitInfo): boolean {
  return exit.signal !== null || exit.code !== 0;
}

/**
 * The history is a sliding window of restart times (ms): entries older than
 * restartPeriodMs fall out. A restart that would make the window hold more
 * than restartMaxRestarts gives the room up. The n-th restart in the window
 * waits initial x factor^(n-1), capped at max, times a jitter factor, so a
 * room that keeps crashing backs off instead of spinning.
 */
export function decideRestart(
  exit: ExitInfo,
  history: readonly number[],
  now: number,
  policy: RestartPolicy,
  random: () => number = Math.random,
): RestartDecision {
  const recent = history.filter((t) => now - t < policy.restartPeriodMs);
  if (policy.restartType === 'temporary') return { action: 'give-up', reason: 'temporary', history: recent };
  if (policy.restartType === 'transient' && !isAbnormal(exit)) return { action: 'give-up', reason: 'normal-exit', history: recent };
  if (recent.length >= policy.restartMaxRestarts) return { action: 'give-up', reason: 'intensity', history: recent };
  return { action: 'restart', delayMs: backoffMs(recent.length, policy, random), history: [...recent, now] };
}

/** Delay before a restart when `prior` restarts are already in the window. */
export function backoffMs(prior: number, p: RestartPolicy, random: () => number = Math.random): number {
  const base = Math.min(p.restartBackoffMaxMs, p.restartBackoffInitialMs * p.restartBackoffFactor ** prior);
  const jitter = 1 + p.restartBackoffJitter * (2 * random() - 1);
  return Math.max(0, Math.round(base * jitter));
}
