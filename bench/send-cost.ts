// The floor under any UDP fan-out written in Node: what one dgram send costs
// the sending process, in CPU µs per datagram (user + system, from
// process.cpuUsage), with nothing else in the process; and the same through
// chatd's sendmmsg helper (rooms/native/udp-batch.cc). The receivers (100
// sockets, like the fan-out room's members) live in a forked child so that
// their reads are not counted. Divided by the events a datagram holds, it
// bounds the CPU-seconds per million deliveries of chatd and of the raw
// relay alike (docs/benchmarks.md, "What limits fan-out").
//   node build/bench/send-cost.js            (also run by `run.js --only sendcost`)
import { fork } from 'node:child_process';
import { createSocket, type Socket } from 'node:dgram';
import { fileURLToPath } from 'node:url';
import { literalLookup } from '../lib/literal-lookup.js';
import type { BatchTransport } from '../rooms/outbox.js';
import { batchSender } from '../rooms/udp-batch.js';
import { track } from '../test/helpers/pids.js';
import { fmt } from './table.js';

const RECEIVERS = 100;
const METHODS: Method[] = ['dgram, dns.lookup (Node default)', 'dgram, literalLookup', 'sendmmsg helper (chatd)'];
const HOST = '127.0.0.1';

type Method = 'dgram, dns.lookup (Node default)' | 'dgram, literalLookup' | 'sendmmsg helper (chatd)';

export interface SendCostRow {
  method: Method;
  datagramBytes: number;
  eventsPerDatagram: number;
  datagrams: number;
  userUs: number;
  sysUs: number;
}

export const SEND_COST_HEADERS = ['send path', 'datagram bytes', 'events/dgram', 'datagrams', 'user µs/dgram', 'sys µs/dgram', 'CPU µs/dgram', 'floor CPU-s per 1M deliveries'];

export function sendCostCells(r: SendCostRow): string[] {
  const total = r.userUs + r.sysUs;
  return [r.method, fmt(r.datagramBytes), fmt(r.eventsPerDatagram), fmt(r.datagrams), fmt(r.userUs, 2), fmt(r.sysUs, 2), fmt(total, 2), fmt(total / r.eventsPerDatagram, 2)];
}

/** The receiver side, in a child: RECEIVERS sockets that read and drop; their ports go to the parent. */
async function receive(): Promise<void> {
  const ports: number[] = [];
  for (let i = 0; i < RECEIVERS; i++) {
    const s = createSocket('udp4');
    await new Promise<void>((r) => s.bind(0, HOST, r));
    s.setRecvBufferSize(2 << 20);
    s.on('message', () => {});
    ports.push(s.address().port);
  }
  process.send!(ports);
  process.on('disconnect', () => process.exit(0));
}

async function openSender(fast: boolean): Promise<Socket> {
  const s = createSocket(fast ? { type: 'udp4', lookup: literalLookup } : { type: 'udp4' });
  await new Promise<void>((r) => s.bind(0, HOST, r));
  s.setSendBufferSize(4 << 20);
  return s;
}

/**
 * Sends `total` datagrams round-robin over the receivers, one turn per
 * receiver round, and waits for the queue to drain. With `batch`, a round
 * is one sendToAll (as a room's flush is); what it could not send goes
 * through dgram, as in the room.
 */
async function measure(s: Socket, ports: number[], bytes: number, total: number, batch?: BatchTransport): Promise<{ userUs: number; sysUs: number }> {
  const buf = Buffer.alloc(bytes, 'x');
  const addrs = batch ? ports.map((p) => batch.sockaddr(HOST, p, 0)!) : [];
  const c0 = process.cpuUsage();
  for (let sent = 0; sent < total; ) {
    const done = batch?.ready(0) ? batch.sendToAll([buf], addrs, 0) : 0;
    for (let i = done; i < ports.length; i++) s.send(buf, ports[i]!, HOST);
    sent += ports.length;
    await new Promise((r) => setImmediate(r)); // a turn, as the room's flush is one per turn
  }
  for (let i = 0; i < 10_000 && s.getSendQueueCount() > 0; i++) await new Promise((r) => setImmediate(r));
  const c = process.cpuUsage(c0);
  return { userUs: c.user / total, sysUs: c.system / total };
}

export async function runSendCost(datagrams = 100_000): Promise<SendCostRow[]> {
  const child = fork(fileURLToPath(import.meta.url), ['--receive'], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  if (child.pid !== undefined) track(child.pid, 'send-cost receivers');
  try {
    const ports = await new Promise<number[]>((resolve, reject) => {
      child.once('message', (m) => resolve(m as number[]));
      child.once('exit', () => reject(new Error('the receiver process exited')));
    });
    const rows: SendCostRow[] = [];
    // A msg event of the fan-out is ~255 bytes: 4 fit a 1,200-byte datagram, 32 an 8 KB one.
    for (const [bytes, events] of [
      [1_020, 4],
      [8_160, 32],
    ] as const) {
      for (const method of METHODS) {
        const s = await openSender(method !== 'dgram, dns.lookup (Node default)');
        let batch: BatchTransport | undefined;
        if (method === 'sendmmsg helper (chatd)') {
          const b = batchSender([s]);
          if ('why' in b) {
            s.close();
            continue; // not built here: the table says so by its absence, and run.js prints why
          }
          batch = b.batch;
        }
        await measure(s, ports, bytes, datagrams / 10, batch); // warm-up
        const m = await measure(s, ports, bytes, datagrams, batch);
        s.close();
        rows.push({ method, datagramBytes: bytes, eventsPerDatagram: events, datagrams, ...m });
      }
    }
    return rows;
  } finally {
    child.kill('SIGKILL');
  }
}

if (process.argv.includes('--receive')) void receive();
else if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { formatTable } = await import('./table.js');
  const rows = await runSendCost();
  process.stdout.write(formatTable('send cost: one Node process sending to 100 loopback sockets (receivers in another process)', SEND_COST_HEADERS, rows.map(sendCostCells)) + '\n');
  process.exit(0);
}
