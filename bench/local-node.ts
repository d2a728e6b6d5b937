// One chatd node of `npm run cluster`: the compiled supervisor run on a
// config file, its stdout handed on line by line, and a stop that ends
// the node's every process. Unlike the tests' helper (test/helpers/chatd.ts)
// it keeps no log lines: the launcher may run for days.
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { CHATD_MAIN, type ExitInfo } from '../test/helpers/chatd.js';
import { isAlive, sigkill, track, waitGone } from '../test/helpers/pids.js';
import { descendants, killTree } from '../test/helpers/proc-tree.js';
import { parseObject } from './merged-log.js';

/** Events whose `pid` is a process of the node (a room, a pooled process). */
const CHILD_EVENTS = new Set(['room_started', 'pool_process_forked', 'pool_process_ready']);
/** Known child pids kept before the dead ones are dropped (rooms come and go over a long run). */
const PIDS_KEPT = 1_000;
/** How long the rooms get to follow their supervisor out before they are killed. */
const ROOMS_EXIT_MS = 2_000;

export interface NodeSpec {
  name: string;
  configPath: string;
  cwd: string;
  /** Every stdout line, parsed when it is a JSON object. */
  onLine: (line: string, parsed: Record<string, unknown> | undefined) => void;
  onStderr: (line: string) => void;
}

export interface LocalNode {
  readonly name: string;
  readonly pid: number;
  /** The `listening` line, or undefined if chatd exited (or timeoutMs passed) first. */
  listening(timeoutMs: number): Promise<Record<string, unknown> | undefined>;
  exited: Promise<ExitInfo>;
  exitInfo(): ExitInfo | undefined;
  /** SIGTERM; the whole tree is SIGKILLed if it is not gone after timeoutMs. Resolves once every process of the node is gone, true if it had to be killed. */
  stop(timeoutMs: number): Promise<boolean>;
  /** SIGKILLs every process of the node; resolves once they are gone. */
  kill(): Promise<void>;
}

export function startLocalNode(spec: NodeSpec): LocalNode {
  // A group of its own: a Ctrl-C at the terminal goes to the launcher alone,
  // which stops the nodes in order (a chatd that got the terminal's SIGINT
  // and then the launcher's SIGTERM would take the second as "force").
  const proc = spawn(process.execPath, [CHATD_MAIN, '--config', spec.configPath], { cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`cannot start ${CHATD_MAIN}`);
  track(pid, `chatd ${spec.name}`);
  const children = new Set<number>();
  let listening: Record<string, unknown> | undefined;
  let exitInfo: ExitInfo | undefined;
  const wake = new Set<() => void>();

  createInterface({ input: proc.stdout! }).on('line', (line) => {
    const parsed = parseObject(line);
    if (parsed && CHILD_EVENTS.has(String(parsed['event'])) && typeof parsed['roomPid'] === 'number') {
      if (children.size >= PIDS_KEPT) for (const p of children) if (!isAlive(p)) children.delete(p);
      children.add(parsed['roomPid']);
      track(parsed['roomPid'], `${spec.name} room process`);
    }
    if (parsed?.['event'] === 'listening' && !listening) {
      listening = parsed;
      for (const w of wake) w();
    }
    spec.onLine(line, parsed);
  });
  createInterface({ input: proc.stderr! }).on('line', spec.onStderr);
  const exited = new Promise<ExitInfo>((resolve) =>
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      for (const w of wake) w();
      resolve(exitInfo);
    }),
  );

  const childPids = () => [...children].filter(isAlive);
  const kill = async () => {
    if (isAlive(pid) || childPids().length > 0) await killTree(pid, childPids());
    await exited;
  };

  return {
    name: spec.name,
    pid,
    listening: (timeoutMs) =>
      new Promise((resolve) => {
        const check = () => {
          if (!listening && !exitInfo) return;
          clearTimeout(timer);
          wake.delete(check);
          resolve(listening);
        };
        const timer = setTimeout(() => {
          wake.delete(check);
          resolve(listening);
        }, timeoutMs);
        wake.add(check);
        check();
      }),
    exited,
    exitInfo: () => exitInfo,
    stop: async (timeoutMs) => {
      let killed = false;
      if (!exitInfo) {
        // Taken now: once the supervisor is gone its rooms are no longer under it.
        for (const p of descendants(pid)) children.add(p);
        proc.kill('SIGTERM');
        const timer = setTimeout(() => {
          killed = true;
          // killTree throws only when SIGKILL left a process, which nothing here could help.
          void kill().catch(() => undefined);
        }, timeoutMs);
        await exited;
        clearTimeout(timer);
      }
      // Rooms exit by themselves when their supervisor's channel closes; stragglers are killed.
      const left = childPids();
      const gone = await Promise.all(left.map((p) => waitGone(p, ROOMS_EXIT_MS)));
      for (const [i, p] of left.entries()) if (!gone[i]) sigkill(p);
      await Promise.all(left.map((p) => waitGone(p, ROOMS_EXIT_MS)));
      return killed;
    },
    kill,
  };
}
