// What the chat tests on the NAT beds share: chatd in the server
// namespace at scaled-down heartbeats, a chatting pair (one member behind
// the router, one beside chatd), the room's log lines about a member, and
// the `chat` CLI run inside a namespace.
import type { ChildProcess } from 'node:child_process';
import type { LogLine } from './chatd.js';
import { CLI } from './cli.js';
import type { NatBed } from './nat-bed.js';
import { readLines, startChatter, type Chatter, type ChatdInNs, type ChatterOptions } from './netns.js';

export const HEARTBEAT_MS = 1_000;
/** The default 3: a member whose address changed has the default window to be found again. */
export const MISSES = 3;
// The client's retry timings scaled like the heartbeat (5 s -> 1 s): 250 ms -> 50 ms.
export const RETRY_MS = 50;

/** chatd in the server namespace, bound to `listen` (default: the server's address), reached at `reach`. */
export function startChatdInBed(bed: NatBed, listen = bed.server.address, reach = bed.server.address): Promise<ChatdInNs> {
  return bed.startChatdIn(bed.server.ns, listen, reach, { heartbeatMs: HEARTBEAT_MS, heartbeatMisses: MISSES });
}

export interface Pair {
  /** Behind the router (the client namespace). */
  natted: Chatter;
  /** Beside chatd (the server namespace), talking to the server's address. */
  plain: Chatter;
  nattedMember: string;
  plainMember: string;
}

/**
 * Starts both members with --wait-go and waits until both have joined;
 * go() them to start the exchange. Each waits for the other's END.
 */
export async function startPair(
  bed: NatBed,
  d: ChatdInNs,
  o: Omit<ChatterOptions, 'server' | 'nick' | 'peers' | 'waitGo'> & { plainHost?: string },
): Promise<Pair> {
  const { plainHost, ...common } = o;
  const natted = startChatter(bed, bed.client, { ...common, server: { host: d.host, port: d.port }, nick: 'natted', peers: ['plain'], waitGo: true });
  const plain = startChatter(bed, bed.server, {
    ...common,
    server: { host: plainHost ?? d.host, port: d.port },
    nick: 'plain',
    peers: ['natted'],
    waitGo: true,
  });
  const [a, b] = await Promise.all([natted.joined(), plain.joined()]);
  return { natted, plain, nattedMember: a['member'] as string, plainMember: b['member'] as string };
}

/** chatd's lines of one event (from the rooms or the supervisor) about one member. */
export function linesAbout(d: ChatdInNs, event: string, member: string): LogLine[] {
  return d.logs.filter((l) => l.event === event && l['member'] === member);
}

/** chatd's warnings and errors (pino level 40 and up), one line each: what a passing run still complained of. */
export function complaints(d: ChatdInNs): string[] {
  return d.logs
    .filter((l) => typeof l['level'] === 'number' && (l['level'] as number) >= 40)
    .map((l) => {
      const { level: _l, time: _t, pid: _p, hostname: _h, ...rest } = l;
      return JSON.stringify(rest);
    });
}

/** The supervisor's word that a member was evicted for silence. */
export function evictions(d: ChatdInNs, member: string): LogLine[] {
  return linesAbout(d, 'member_evicted', member);
}

export interface CliRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  ms: number;
}

/** Runs the built `chat` CLI in a namespace; SIGKILLed (by pid) if it outlives limitMs. */
export async function runCliIn(bed: NatBed, ns: string, args: string[], limitMs: number): Promise<CliRun> {
  const started = Date.now();
  const proc: ChildProcess = bed.nodeIn(ns, CLI, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const r = readLines(proc);
  const killer = setTimeout(() => proc.kill('SIGKILL'), limitMs);
  const { code, signal } = await r.exited;
  clearTimeout(killer);
  const stdout = r.lines.map((l) => (l.event === 'unparsed' ? String(l['line']) : JSON.stringify(l))).join('\n');
  return { code, signal, stdout, stderr: r.stderr(), ms: Date.now() - started };
}
