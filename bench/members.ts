// A member worker process (forked by member-pool.ts): holds M members of one
// room and counts the bench messages they receive, per tag. Members of chatd
// are raw UDP sockets, one each, joined and heartbeating like real clients;
// members of the comparison's baselines are UDP sockets registered with the
// raw relay, or Socket.IO clients (websocket), one connection each. Runs in
// its own process so that receiving is not the load driver's bottleneck.
// When the native worker (bench/native/members.cc) can be built, member-pool
// uses it for the UDP members instead, and this one only for Socket.IO (or
// for all with CHATD_BENCH_DRIVER=node): both count the same way.
import { LogHistogram } from './stats.js';
import { parseBenchText, scanBenchTexts, type FromWorker, type TagReport, type ToWorker, type WorkerTarget } from './members-ipc.js';
import { clientAddress, inParallel, nowUs, UdpPeer } from './udp.js';

interface Counter {
  msgs: number;
  datagrams: number;
  lastUs: number;
  latency: LogHistogram;
}

/** What a member holds open: a UDP socket (chatd, relay) or a Socket.IO client. */
const closers: Array<() => void> = [];
const counters = new Map<string, Counter>();

function counter(tag: string): Counter {
  let c = counters.get(tag);
  if (!c) {
    c = { msgs: 0, datagrams: 0, lastUs: 0, latency: new LogHistogram() };
    counters.set(tag, c);
  }
  return c;
}

/** One server datagram (chatd or the relay): counts each bench msg in it, and the datagram once per tag. */
function onDatagram(buf: Buffer, atUs: number): void {
  let counted: Counter | undefined;
  scanBenchTexts(buf, (tag, sentUs) => {
    const c = counter(tag);
    c.msgs++;
    c.lastUs = atUs;
    c.latency.record(atUs - sentUs);
    if (counted !== c) {
      c.datagrams++;
      counted = c;
    }
  });
}

/** One Socket.IO `msg` event (no datagrams to count: one websocket message each). */
function onSocketIoMsg(ev: { text?: unknown } | undefined): void {
  const atUs = nowUs();
  const b = parseBenchText(ev?.text);
  if (!b) return;
  const c = counter(b.tag);
  c.msgs++;
  c.lastUs = atUs;
  c.latency.record(atUs - b.sentUs);
}

async function joinOne(target: WorkerTarget, nick: string, address: string): Promise<void> {
  if (target.kind === 'socketio') {
    const { io } = await import('socket.io-client');
    const s = io(`http://127.0.0.1:${target.port}`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000 });
    closers.push(() => s.disconnect());
    await new Promise<void>((resolve, reject) => {
      s.once('connect', () => resolve());
      s.once('connect_error', (err) => reject(err));
    });
    s.on('msg', onSocketIoMsg);
    await s.timeout(10_000).emitWithAck('join', target.room, nick);
    return;
  }
  const p = await UdpPeer.open(address, 2 << 20);
  closers.push(() => p.close());
  if (target.kind === 'relay') await p.register(target.port, nick);
  else await p.join(target.controlPort, target.room, nick);
  p.onRaw = onDatagram;
}

function send(m: FromWorker): void {
  if (process.connected) process.send!(m);
}

function quit(): void {
  for (const c of closers) c();
  process.exit(0);
}

process.on('disconnect', quit); // the driver is gone: never outlive it

process.on('message', (raw: unknown) => {
  const msg = raw as ToWorker;
  switch (msg.type) {
    case 'join':
      void inParallel(msg.nicks, 8, (nick, i) => joinOne(msg.target, nick, clientAddress(msg.addressBlock, i))).then(
        () => send({ type: 'joined', members: closers.length }),
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
