// Scenario 2, join latency: join -> joined, one join at a time, each from a
// fresh socket on its own address (a new client): into an existing room,
// and joins that create a room (the supervisor forks a room process before
// it can answer).
import type { Chatd } from '../test/helpers/chatd.js';
import { percentile } from './stats.js';
import { fmt } from './table.js';
import { clientAddress, nowUs, UdpPeer } from './udp.js';

export interface JoinRow {
  what: string;
  n: number;
  p50Ms: number;
  p99Ms: number;
  minMs: number;
  maxMs: number;
}

export const JOIN_HEADERS = ['join', 'n', 'p50 ms', 'p99 ms', 'min ms', 'max ms'];

export function joinCells(r: JoinRow): string[] {
  return [r.what, String(r.n), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2), fmt(r.minMs, 2), fmt(r.maxMs, 2)];
}

function row(what: string, ms: number[]): JoinRow {
  return { what, n: ms.length, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99), minMs: Math.min(...ms), maxMs: Math.max(...ms) };
}

export async function runJoinLatency(chatd: Chatd, existingJoins = 50, creatingJoins = 10): Promise<{ rows: JoinRow[]; forkMs: number[]; burstForkMs: number[] }> {
  const peers: UdpPeer[] = [];
  const open = async () => {
    const p = await UdpPeer.open(clientAddress(30, peers.length));
    peers.push(p);
    return p;
  };
  try {
    // The existing room, held open by one heartbeating member.
    await (await open()).join(chatd.port, 'lobby', 'host');
    await chatd.roomPid('lobby');
    const timeJoin = async (room: string, nick: string) => {
      const p = await open();
      const t0 = nowUs();
      await p.joinOnly(chatd.port, room, nick);
      return (nowUs() - t0) / 1000;
    };
    const existing: number[] = [];
    for (let i = 0; i < existingJoins; i++) existing.push(await timeJoin('lobby', `guest${i}`));
    // Creations as the pool is meant to serve them: each waits until the
    // pooled process has warmed up (its pool_process_ready line), as a
    // new room every few hundred ms would find it.
    const taken = new Set<unknown>();
    const creating: number[] = [];
    for (let i = 0; i < creatingJoins; i++) {
      const ready = await chatd.waitLog((l) => l.event === 'pool_process_ready' && !taken.has(l['roomPid']), 10_000, `pool_process_ready #${i + 1}`);
      taken.add(ready['roomPid']);
      creating.push(await timeJoin(`new-${i}`, 'founder'));
    }
    // Back to back: the pool (roomPoolSize, 1 by default) is drained at
    // once, and later creations wait for a fork.
    const burst: number[] = [];
    for (let i = 0; i < creatingJoins; i++) burst.push(await timeJoin(`burst-${i}`, 'founder'));
    // The supervisor's own view of each creation: taking a process until the room reported ready.
    const startMs = async (room: string) =>
      (await chatd.waitLog((l) => l.event === 'room_started' && l['room'] === room, 5_000, `room_started ${room}`))['startMs'] as number;
    const forkMs: number[] = [];
    for (let i = 0; i < creatingJoins; i++) forkMs.push(await startMs(`new-${i}`));
    const burstForkMs: number[] = [];
    for (let i = 0; i < creatingJoins; i++) burstForkMs.push(await startMs(`burst-${i}`));
    return {
      rows: [row('into an existing room', existing), row('creating a new room, pool warm', creating), row('creating new rooms back to back', burst)],
      forkMs,
      burstForkMs,
    };
  } finally {
    for (const p of peers) p.close();
  }
}
