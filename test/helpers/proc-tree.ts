// A process and everything under it, read from /proc: a chatd node is its
// supervisor, its rooms and its pooled processes, and killing or pausing
// "the node" means all of them. A log line naming a room's pid trails its
// fork, and a child whose parent died is re-parented away from the tree,
// so the tree is first frozen (SIGSTOP, nothing in it can fork any more),
// then read, then signalled.
import { readdirSync, readFileSync } from 'node:fs';
import { isAlive, sigkill, waitGone } from './pids.js';

/** Rounds of freeze-and-read before the tree is taken as complete: each round catches one more generation forked meanwhile. */
const FREEZE_ROUNDS = 10;
/** How long a SIGSTOP may take to land on every process of the tree. */
const STOP_TIMEOUT_MS = 2_000;

interface Stat {
  state: string;
  ppid: number;
}

function stat(pid: number): Stat | undefined {
  try {
    const t = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The name field (in parentheses) may itself hold spaces and ')'.
    const rest = t.slice(t.lastIndexOf(')') + 2).split(' ');
    return { state: rest[0]!, ppid: Number(rest[1]) };
  } catch {
    return undefined;
  }
}

/** Every live process under pid (children, their children, ...), not pid itself. */
export function descendants(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const s = stat(Number(name));
    if (!s) continue;
    const list = children.get(s.ppid) ?? [];
    list.push(Number(name));
    children.set(s.ppid, list);
  }
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of children.get(queue.shift()!) ?? []) {
      out.push(c);
      queue.push(c);
    }
  }
  return out.filter(isAlive);
}

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    /* already gone */
  }
}

/** True once pid is stopped (state T) or gone; bounded by STOP_TIMEOUT_MS. */
async function waitStopped(pid: number, until: number): Promise<void> {
  while (Date.now() < until) {
    const s = stat(pid);
    if (!s || s.state === 'T' || s.state === 'Z' || s.state === 'X') return;
    await new Promise((r) => setTimeout(r, 5));
  }
}

/**
 * SIGSTOPs root and everything under it, plus `also` (processes known to be
 * part of it that may have been re-parented), and returns the live pids it
 * stopped, root first. Until they get SIGCONT, none of them runs or forks.
 */
export async function freezeTree(root: number, also: readonly number[] = []): Promise<number[]> {
  const frozen = new Set<number>();
  const until = Date.now() + STOP_TIMEOUT_MS;
  for (let round = 0; round < FREEZE_ROUNDS; round++) {
    const found = [root, ...also, ...descendants(root)].filter((p) => !frozen.has(p) && isAlive(p));
    if (found.length === 0) break;
    for (const p of found) {
      signal(p, 'SIGSTOP');
      frozen.add(p);
    }
    // A process forks until the signal has landed: read the tree again only after that.
    await Promise.all(found.map((p) => waitStopped(p, until)));
  }
  return [...frozen];
}

/** SIGCONTs the pids (as freezeTree returned them) and whatever is under root now. */
export function thawTree(root: number, pids: readonly number[]): void {
  for (const p of new Set([...pids, root, ...descendants(root)])) signal(p, 'SIGCONT');
}

/**
 * SIGKILLs root, everything under it and `also`, and resolves once every
 * one of them is gone; throws naming the survivors after timeoutMs.
 */
export async function killTree(root: number, also: readonly number[] = [], timeoutMs = 5_000): Promise<number[]> {
  const pids = await freezeTree(root, also);
  for (const p of pids) sigkill(p);
  const gone = await Promise.all(pids.map((p) => waitGone(p, timeoutMs)));
  const left = pids.filter((_, i) => !gone[i]);
  if (left.length > 0) throw new Error(`processes still alive ${timeoutMs} ms after SIGKILL: ${left.join(', ')}`);
  return pids;
}
