// Process liveness by pid, for the tests and the bench alike, and the
// registry of every process a run started, so that a failure or Ctrl-C
// still kills all of them (and nothing else).
//
// "Alive" reads the state in /proc/PID/stat rather than kill(pid, 0): a
// process that has exited but is not yet reaped (a zombie, as a room is
// until its supervisor waits for it) has stopped running and holds no
// socket, yet kill(pid, 0) still succeeds on it; and kill(pid, 0) fails
// with EPERM on a live process of another user.
import { readFileSync } from 'node:fs';

const started = new Map<number, string>();

/** Registers a process started by this run (see killAllStarted). */
export function track(pid: number, what: string): void {
  started.set(pid, what);
}

/** The process state letter from /proc/PID/stat ('Z' = exited, not yet reaped), or undefined if gone. */
function procState(pid: number): string | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name field (in parentheses) may itself hold spaces and ')'.
    return t.charAt(t.lastIndexOf(')') + 2);
  } catch {
    return undefined;
  }
}

/** True while the process exists and is not a zombie. */
export function isAlive(pid: number): boolean {
  const s = procState(pid);
  return s !== undefined && s !== 'Z' && s !== 'X';
}

/** Polls (bounded in count and time) until the pid is not alive; resolves false if it never goes. */
export async function waitGone(pid: number, timeoutMs = 5_000): Promise<boolean> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (!isAlive(pid)) return true;
    await new Promise((r) => setTimeout(r, 20));
  }
  return !isAlive(pid);
}

export function sigkill(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    /* already gone */
  }
}

/** Pids of the registered processes still alive. */
export function trackedPids(): number[] {
  return [...started.keys()].filter(isAlive);
}

/** Registered processes still alive, as "what (pid N)". */
export function stillRunning(): string[] {
  return [...started].filter(([pid]) => isAlive(pid)).map(([pid, what]) => `${what} (pid ${pid})`);
}

/** SIGKILLs every registered process still alive; returns what was still running. */
export function killAllStarted(): string[] {
  const survivors = stillRunning();
  for (const [pid] of started) if (isAlive(pid)) sigkill(pid);
  return survivors;
}
