// Scenario 4, memory: RSS of an idle room process (one member), of the
// supervisor with no rooms and with 20 rooms (one member each), and the
// rooms' total (RSS, and PSS, which splits pages the processes share).
import type { Chatd } from './chatd-process.js';
import { pssBytes, rssBytes } from './proc-stat.js';
import { median } from './stats.js';
import { mb } from './table.js';
import { clientAddress, sleep, UdpPeer } from './udp.js';

export interface MemoryRow {
  what: string;
  rssBytes: number;
  pssBytes: number;
}

export const MEMORY_HEADERS = ['process', 'RSS MB', 'PSS MB'];

export function memoryCells(r: MemoryRow): string[] {
  return [r.what, mb(r.rssBytes), mb(r.pssBytes)];
}

export async function runMemory(chatd: Chatd, rooms = 20, settleMs = 1_000): Promise<MemoryRow[]> {
  const peers: UdpPeer[] = [];
  try {
    await sleep(settleMs);
    const rows: MemoryRow[] = [{ what: 'supervisor, no rooms', rssBytes: rssBytes(chatd.pid), pssBytes: pssBytes(chatd.pid) }];
    const pids: number[] = [];
    for (let i = 0; i < rooms; i++) {
      const p = await UdpPeer.open(clientAddress(50, i), 1 << 16);
      peers.push(p);
      await p.join(chatd.port, `idle-${i}`, 'solo');
      pids.push(await chatd.roomPid(`idle-${i}`));
      if (i === 0) {
        await sleep(settleMs);
        rows.push({ what: 'idle room (1 member), the only room', rssBytes: rssBytes(pids[0]!), pssBytes: pssBytes(pids[0]!) });
      }
    }
    await sleep(settleMs);
    const rss = pids.map(rssBytes);
    const pss = pids.map(pssBytes);
    rows.push({ what: `supervisor, ${rooms} rooms`, rssBytes: rssBytes(chatd.pid), pssBytes: pssBytes(chatd.pid) });
    rows.push({ what: `idle room, median of ${rooms}`, rssBytes: median(rss), pssBytes: median(pss) });
    rows.push({ what: `all ${rooms} room processes`, rssBytes: rss.reduce((a, b) => a + b, 0), pssBytes: pss.reduce((a, b) => a + b, 0) });
    return rows;
  } finally {
    for (const p of peers) p.close();
  }
}
