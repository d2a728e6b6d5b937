// Scenario 4, memory: RSS of an idle room process (one member), of the
// supervisor with no rooms and with 100 rooms (one member each), and the
// rooms' total (RSS, and PSS, which splits pages the processes share);
// beside them a bare `node` process doing nothing, the floor any room
// process written in Node stands on, and the warm pooled process.
import type { Chatd } from '../test/helpers/chatd.js';
import { spawn } from 'node:child_process';
import { privateDirtyBytes, pssBytes, rssBytes } from './proc-stat.js';
import { sigkill, track } from '../test/helpers/pids.js';
import { median } from './stats.js';
import { mb } from './table.js';
import { clientAddress, sleep, UdpPeer } from './udp.js';

export interface MemoryRow {
  what: string;
  rssBytes: number;
  pssBytes: number;
  privateBytes: number;
}

export const MEMORY_HEADERS = ['process', 'RSS MB', 'PSS MB', 'private dirty MB'];

export function memoryCells(r: MemoryRow): string[] {
  return [r.what, mb(r.rssBytes), mb(r.pssBytes), mb(r.privateBytes)];
}

function reading(what: string, pid: number): MemoryRow {
  return { what, rssBytes: rssBytes(pid), pssBytes: pssBytes(pid), privateBytes: privateDirtyBytes(pid) };
}

/** A bare `node` process that does nothing: the floor under any process written in Node. */
async function bareNode(settleMs: number): Promise<MemoryRow> {
  const p = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const pid = p.pid!;
  track(pid, 'bare node');
  try {
    await sleep(settleMs);
    return reading(`bare node ${process.version} (-e 'setInterval(...)')`, pid);
  } finally {
    sigkill(pid);
  }
}

export async function runMemory(chatd: Chatd, rooms = 100, settleMs = 1_000): Promise<MemoryRow[]> {
  const peers: UdpPeer[] = [];
  try {
    const pooled = await chatd.waitLog((l) => l.event === 'pool_process_ready', 10_000, 'a warm pooled room process');
    await sleep(settleMs);
    const rows: MemoryRow[] = [
      await bareNode(settleMs),
      reading('pooled room process, warm and idle (no room yet)', pooled['roomPid'] as number),
      reading('supervisor, no rooms', chatd.pid),
    ];
    const pids: number[] = [];
    for (let i = 0; i < rooms; i++) {
      const p = await UdpPeer.open(clientAddress(50, i), 1 << 16);
      peers.push(p);
      await p.join(chatd.port, `idle-${i}`, 'solo');
      pids.push(await chatd.roomPid(`idle-${i}`));
      if (i === 0) {
        await sleep(settleMs);
        rows.push(reading('idle room (1 member), the only room', pids[0]!));
      }
    }
    await sleep(settleMs);
    const all = pids.map((pid) => reading('', pid));
    const sum = (k: 'rssBytes' | 'pssBytes' | 'privateBytes') => all.reduce((a, r) => a + r[k], 0);
    const med = (k: 'rssBytes' | 'pssBytes' | 'privateBytes') => median(all.map((r) => r[k]));
    rows.push(reading(`supervisor, ${rooms} rooms`, chatd.pid));
    rows.push({ what: `idle room, median of ${rooms}`, rssBytes: med('rssBytes'), pssBytes: med('pssBytes'), privateBytes: med('privateBytes') });
    rows.push({ what: `all ${rooms} room processes`, rssBytes: sum('rssBytes'), pssBytes: sum('pssBytes'), privateBytes: sum('privateBytes') });
    return rows;
  } finally {
    for (const p of peers) p.close();
  }
}
