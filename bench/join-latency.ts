// Scenario 2, join latency: join -> joined, one join at a time, each from a
// fresh socket on its own address (a new client): into an existing room,
// and joins that create a room (the supervisor forks a room process before
// it can answer).
import type { Chatd } from './chatd-process.js';
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

export async function runJoinLatency(chatd: Chatd, existingJoins = 50, creatingJoins = 10): Promise<{ rows: JoinRow[]; forkMs: number[] }> {
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
    const creating: number[] = [];
    for (let i = 0; i < creatingJoins; i++) creating.push(await timeJoin(`new-${i}`, 'founder'));
    // The supervisor's own view of each creation: fork until the room reported ready.
    const forkMs: number[] = [];
    for (let i = 0; i < creatingJoins; i++) {
      const l = await chatd.waitLog((l) => l.event === 'room_started' && l['room'] === `new-${i}`, 5_000, `room_started new-${i}`);
      forkMs.push(l['startMs'] as number);
    }
    return { rows: [row('into an existing room', existing), row('creating a new room', creating)], forkMs };
  } finally {
    for (const p of peers) p.close();
  }
}
