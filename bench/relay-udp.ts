// Baseline for the fan-out comparison: a raw Node UDP relay, the least a
// Node UDP chat room can do. Forked by the bench (bench/server-process.ts):
//   node relay-udp.js --coalesce on|off --room NAME
// It binds 127.0.0.1 on an ephemeral port and reports it over IPC
// ({type:'listening', port}). A datagram {"type":"register","id","nick"}
// registers its source endpoint as a member (answered with
// {"type":"registered","id","member"}); any other datagram from a member
// that holds a string "text" (the bench sends chatd's `say` datagrams) is
// turned into the event chatd would send —
// {type:'msg',room,seq,member,nick,text,ts,id}, serialized once — and that
// event is sent to every registered member, the sender included (its copy is
// its ack, as in chatd). No validation, journal, history, dedupe, rate
// limits or heartbeats: what is left is chatd's data path without its
// protocol.
//   --coalesce off: one datagram per member per message, sent at once.
//   --coalesce on: the events of one event-loop turn are joined with "\n"
//     into datagrams of at most 1,200 bytes, flushed by setImmediate at the
//     end of the turn — chatd's rule. Every member gets every event here, so
//     the per-member queues are all the same list: the batch is packed once
//     and the same buffers go to every member (chatd's shared fast path).
// Sends take no callback (no per-send closure or promise), like chatd's.
import { randomBytes } from 'node:crypto';
import { createSocket, type RemoteInfo } from 'node:dgram';

const MAX_DATAGRAM_BYTES = 1_200;
/** chatd's default socketBufferBytes. */
const SOCKET_BUFFER_BYTES = 1 << 20;
const NEWLINE = Buffer.from('\n');

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : fallback;
}

const coalesce = arg('coalesce', 'on') === 'on';
const room = arg('room', 'relay');

interface Peer {
  port: number;
  address: string;
  member: string;
  nick: string;
}

const members: Peer[] = [];
const byEndpoint = new Map<string, Peer>();
let seq = 0;
/** Events of this turn (coalescing mode), in order. */
let batch: Buffer[] = [];
let scheduled = false;

const sock = createSocket('udp4');

function onDatagram(buf: Buffer, from: RemoteInfo): void {
  let v: Record<string, unknown>;
  try {
    v = JSON.parse(buf.toString('utf8')) as Record<string, unknown>;
  } catch {
    return;
  }
  if (typeof v !== 'object' || v === null) return;
  const key = `${from.address}:${from.port}`;
  const peer = byEndpoint.get(key);
  if (v['type'] === 'register') {
    let p = peer;
    if (!p) {
      // A member id of chatd's length (10 characters), so the events are the same size.
      p = { port: from.port, address: from.address, member: randomBytes(8).toString('base64url').slice(0, 10), nick: String(v['nick']) };
      byEndpoint.set(key, p);
      members.push(p);
    }
    sock.send(Buffer.from(JSON.stringify({ type: 'registered', id: v['id'], member: p.member })), from.port, from.address);
    return;
  }
  if (!peer || typeof v['text'] !== 'string') return;
  const event = { type: 'msg', room, seq: ++seq, member: peer.member, nick: peer.nick, text: v['text'], ts: Date.now(), id: v['id'] };
  const encoded = Buffer.from(JSON.stringify(event), 'utf8');
  if (!coalesce) {
    for (const m of members) sock.send(encoded, m.port, m.address);
    return;
  }
  batch.push(encoded);
  if (!scheduled) {
    scheduled = true;
    setImmediate(flush);
  }
}

/** Packs this turn's events into datagrams of at most MAX_DATAGRAM_BYTES, once, and sends them to every member. */
function flush(): void {
  scheduled = false;
  const events = batch;
  batch = [];
  const datagrams: Buffer[] = [];
  let cur: Buffer[] = [];
  let size = 0;
  for (const e of events) {
    if (cur.length > 0 && size + 1 + e.length > MAX_DATAGRAM_BYTES) {
      datagrams.push(cur.length === 1 ? cur[0]! : Buffer.concat(cur, size));
      cur = [];
      size = 0;
    }
    if (cur.length > 0) {
      cur.push(NEWLINE);
      size += 1;
    }
    cur.push(e);
    size += e.length;
  }
  if (cur.length > 0) datagrams.push(cur.length === 1 ? cur[0]! : Buffer.concat(cur, size));
  for (const m of members) for (const d of datagrams) sock.send(d, m.port, m.address);
}

sock.on('message', onDatagram);
sock.on('error', (err) => process.stderr.write(`relay-udp: socket error: ${err.message}\n`));

// Exit with the bench (IPC gone) or on SIGTERM; exiting normally lets
// `node --cpu-prof` write its profile.
process.on('disconnect', () => process.exit(0));
process.on('SIGTERM', () => process.exit(0));

sock.bind(0, '127.0.0.1', () => {
  sock.setRecvBufferSize(SOCKET_BUFFER_BYTES);
  sock.setSendBufferSize(SOCKET_BUFFER_BYTES);
  process.send?.({ type: 'listening', port: sock.address().port });
});
