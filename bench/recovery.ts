// Scenario 3, recovery: member A says something every 5 ms, member B
// listens; the room process is SIGKILLed and the supervisor restarts it on
// the same port with the same members. Measured: from the kill to the first
// msg B receives that A sent after the kill (so it went through the new
// process), and how many of A's messages of that round never reached B.
import type { Chatd } from '../test/helpers/chatd.js';
import { benchText, parseBenchText } from './members-ipc.js';
import { sigkill } from '../test/helpers/pids.js';
import { median } from './stats.js';
import { fmt } from './table.js';
import { clientAddress, nowUs, sleep, UdpPeer } from './udp.js';

export interface RecoveryRow {
  rep: number;
  recoveryMs: number;
  restartLogMs: number;
  lost: number;
  sent: number;
}

export const RECOVERY_HEADERS = ['repetition', 'kill -> first msg ms', 'room fork -> ready ms', 'msgs sent', 'msgs lost'];

export function recoveryCells(r: RecoveryRow): string[] {
  return [String(r.rep), fmt(r.recoveryMs, 1), fmt(r.restartLogMs), String(r.sent), String(r.lost)];
}

export function recoveryMedianCells(rows: RecoveryRow[]): string[] {
  return ['median', fmt(median(rows.map((r) => r.recoveryMs)), 1), fmt(median(rows.map((r) => r.restartLogMs))), '', ''];
}

export async function runRecovery(chatd: Chatd, reps = 3, periodMs = 5): Promise<RecoveryRow[]> {
  const room = 'phoenix';
  const a = await UdpPeer.open(clientAddress(40, 0));
  const b = await UdpPeer.open(clientAddress(40, 1));
  let timer: NodeJS.Timeout | undefined;
  try {
    const am = await a.join(chatd.port, room, 'alice');
    await b.join(chatd.port, room, 'bob');
    let tag = 'k0';
    let n = 0;
    const sent = new Map<string, number>();
    timer = setInterval(() => {
      a.send({ type: 'say', token: am.token, id: `${tag}-${n++}`, text: benchText(tag, nowUs()) }, am.port);
      sent.set(tag, (sent.get(tag) ?? 0) + 1);
    }, periodMs);
    const received = new Map<string, number>();
    let killUs = Infinity;
    let firstAfterKill: ((atUs: number) => void) | undefined;
    b.onDatagram = (objs, atUs) => {
      for (const o of objs) {
        if (o['type'] !== 'msg') continue;
        const t = parseBenchText(o['text']);
        if (!t) continue;
        received.set(t.tag, (received.get(t.tag) ?? 0) + 1);
        if (t.sentUs > killUs) firstAfterKill?.(atUs);
      }
    };
    const rows: RecoveryRow[] = [];
    for (let rep = 1; rep <= reps; rep++) {
      tag = `k${rep}`;
      await sleep(300); // steady traffic through the current process
      const pid = await chatd.roomPid(room, rep);
      const back = new Promise<number>((resolve, reject) => {
        const t = setTimeout(() => reject(new Error(`no msg reached bob within 10 s of killing room pid ${pid}`)), 10_000);
        firstAfterKill = (at) => {
          clearTimeout(t);
          firstAfterKill = undefined;
          resolve(at);
        };
      });
      killUs = nowUs();
      sigkill(pid);
      const backUs = await back;
      const started = await chatd.waitLog((l) => l.event === 'room_started' && l['room'] === room && l['incarnation'] === rep + 1, 5_000, 'the restarted room');
      await sleep(200); // the round's last messages arrive
      tag = `k${rep}x`; // messages from here on belong to no round
      await sleep(50);
      const s = sent.get(`k${rep}`) ?? 0;
      rows.push({ rep, recoveryMs: (backUs - killUs) / 1000, restartLogMs: started['startMs'] as number, sent: s, lost: s - (received.get(`k${rep}`) ?? 0) });
      killUs = Infinity;
    }
    return rows;
  } finally {
    if (timer) clearInterval(timer);
    a.close();
    b.close();
  }
}
