// A member worker process (forked by member-pool.ts): holds M raw UDP
// members of one room, each on its own socket, joined and heartbeating like
// real clients, and counts the bench messages they receive, per tag. Runs in
// its own process so that receiving is not the load driver's bottleneck.
import { LogHistogram } from './stats.js';
import { parseBenchText, type FromWorker, type TagReport, type ToWorker } from './members-ipc.js';
import { clientAddress, inParallel, UdpPeer, type Obj } from './udp.js';

interface Counter {
  msgs: number;
  datagrams: number;
  lastUs: number;
  latency: LogHistogram;
}

const peers: UdpPeer[] = [];
const counters = new Map<string, Counter>();

function counter(tag: string): Counter {
  let c = counters.get(tag);
  if (!c) {
    c = { msgs: 0, datagrams: 0, lastUs: 0, latency: new LogHistogram() };
    counters.set(tag, c);
  }
  return c;
}

function onDatagram(objs: Obj[], atUs: number): void {
  let counted: Counter | undefined;
  for (const o of objs) {
    if (o['type'] !== 'msg') continue;
    const b = parseBenchText(o['text']);
    if (!b) continue;
    const c = counter(b.tag);
    c.msgs++;
    c.lastUs = atUs;
    c.latency.record(atUs - b.sentUs);
    if (counted !== c) {
      c.datagrams++;
      counted = c;
    }
  }
}

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

function quit(): void {
  for (const p of peers) p.close();
  process.exit(0);
}

process.on('disconnect', quit); // the driver is gone: never outlive it

process.on('message', (raw: unknown) => {
  const msg = raw as ToWorker;
  switch (msg.type) {
    case 'join':
      void inParallel(msg.nicks, 8, async (nick, i) => {
        const p = await UdpPeer.open(clientAddress(msg.addressBlock, i), 2 << 20);
        peers.push(p);
        p.onDatagram = onDatagram;
        await p.join(msg.controlPort, msg.room, nick);
      }).then(
        () => send({ type: 'joined', members: peers.length }),
        (err: unknown) => send({ type: 'error', message: (err as Error).message }),
      );
      return;
    case 'report': {
      const c = counters.get(msg.tag);
      const r: TagReport = c
        ? { tag: msg.tag, msgs: c.msgs, datagrams: c.datagrams, lastUs: c.lastUs, latency: c.latency.toData() }
        : { tag: msg.tag, msgs: 0, datagrams: 0, lastUs: 0, latency: [] };
      return send({ type: 'report', ...r });
    }
    case 'quit':
      return quit();
  }
});
