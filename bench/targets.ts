// What the fan-out driver (fanout.ts) runs against: chatd, or one of the
// comparison's baselines — the raw UDP relay (relay-udp.ts) without or with
// coalescing, or a Socket.IO 4.8 room server (socketio-server.ts). Each
// gives the driver its senders (members that say; their own copies come
// back as their acks), what the member workers join, and the pid of the
// server process whose CPU and memory are measured (for chatd: the room
// process).
import type { Chatd } from '../test/helpers/chatd.js';
import { parseBenchText, scanBenchTexts, type WorkerTarget } from './members-ipc.js';
import { startServer, type ServerProcess } from './server-process.js';
import { clientAddress, nowUs, UdpPeer, type Obj } from './udp.js';

export type TargetKind = 'chatd' | 'relay-off' | 'relay-on' | 'socketio';

export const TARGET_LABELS: Record<TargetKind, string> = {
  chatd: 'chatd',
  'relay-off': 'UDP relay, no coalescing',
  'relay-on': 'UDP relay, coalescing',
  socketio: 'Socket.IO 4.8',
};

/** A bench message received: its tag and send time (see benchText). */
export interface BenchMsg {
  tag: string;
  sentUs: number;
}

export interface Sender {
  /** Sends one message (chatd's `say`, or its equivalent); its copy comes back through onReceive. */
  say(id: string, text: string): void;
  /** The bench messages of one datagram (UDP) or one Socket.IO event, with the arrival time (µs). */
  onReceive: ((msgs: BenchMsg[], atUs: number) => void) | undefined;
  /** Error replies (chatd only: e.g. RATE_LIMITED), by code. */
  onError: ((code: string) => void) | undefined;
  close(): void;
}

export interface FanoutTarget {
  kind: TargetKind;
  label: string;
  /** The process whose CPU and memory are the server's: chatd's room process, the relay, the Socket.IO server. */
  serverPid: number;
  /** chatd's supervisor (measured beside the room); undefined for the baselines. */
  helperPid: number | undefined;
  /** UDP targets: deliveries arrive in datagrams that may hold several (msgs/dgram is meaningful). */
  datagrams: boolean;
  /** What the member workers join. */
  members: WorkerTarget;
  /** Members of the room that say (one for the baselines), each on a socket and loopback address of its own. */
  senders: Sender[];
  /** Throws if the server died, or chatd's room process was restarted: the step's figures would be void. */
  check(): void;
  /** Closes the senders, and stops the server if the target started it (chatd is stopped by its owner). */
  close(): Promise<void>;
}

const ERROR_TYPE = '"type":"error"';

/**
 * The sender's UDP socket: the bench messages and error codes of every
 * datagram go to the Sender's handlers. The messages are found as the
 * member workers find them (scanBenchTexts), without JSON-parsing every
 * event: the driver shares the 2 cores with the server, and with several
 * senders each receives every message of the room. Only a datagram that
 * holds an error (rare, and fatal to the figures) is parsed.
 */
function udpSender(peer: UdpPeer, build: (id: string, text: string) => Obj, port: number): Sender {
  const s: Sender = {
    say: (id, text) => peer.send(build(id, text), port),
    onReceive: undefined,
    onError: undefined,
    close: () => peer.close(),
  };
  peer.onRaw = (buf, at) => {
    const msgs: BenchMsg[] = [];
    scanBenchTexts(buf, (tag, sentUs) => msgs.push({ tag, sentUs }));
    if (buf.includes(ERROR_TYPE)) {
      for (const line of buf.toString('utf8').split('\n')) {
        try {
          const o = JSON.parse(line) as Obj;
          if (o['type'] === 'error') s.onError?.(String(o['code']));
        } catch {
          /* not an object: nothing to count */
        }
      }
    }
    s.onReceive?.(msgs, at);
  };
  return s;
}

/**
 * chatd (already started by the caller): `senders` members join `room`, the
 * first creating its process; sender j binds clientAddress(10, firstAddress + j),
 * so that every sender (and every room's creator) is a client of its own.
 */
export async function chatdTarget(chatd: Chatd, room: string, senders = 1, firstAddress = 0): Promise<FanoutTarget> {
  const peers: UdpPeer[] = [];
  try {
    const out: Sender[] = [];
    for (let j = 0; j < senders; j++) {
      const peer = await UdpPeer.open(clientAddress(10, firstAddress + j), 4 << 20);
      peers.push(peer);
      const m = await peer.join(chatd.port, room, senders === 1 ? 'sender' : `sender${j}`);
      out.push(udpSender(peer, (id, text) => ({ type: 'say', token: m.token, id, text }), m.port));
    }
    const roomPid = await chatd.roomPid(room);
    return {
      kind: 'chatd',
      label: TARGET_LABELS.chatd,
      serverPid: roomPid,
      helperPid: chatd.pid,
      datagrams: true,
      members: { kind: 'chatd', controlPort: chatd.port, room },
      senders: out,
      check: () => {
        const exit = chatd.exitInfo();
        if (exit) throw new Error(`chatd exited during the fan-out (code ${exit.code}, signal ${exit.signal})`);
        const restarted = chatd.logs.find((l) => l.event === 'room_started' && l['room'] === room && l['roomPid'] !== roomPid);
        if (restarted) throw new Error(`the room process of ${room} was restarted during the fan-out (pid ${roomPid}, then ${String(restarted['roomPid'])})`);
      },
      close: async () => {
        for (const p of peers) p.close();
      },
    };
  } catch (err) {
    for (const p of peers) p.close();
    throw err;
  }
}

function checkServer(server: ServerProcess, label: string): () => void {
  return () => {
    const exit = server.exitInfo();
    if (exit) throw new Error(`the ${label} server exited during the fan-out (code ${exit.code}, signal ${exit.signal})`);
  };
}

/**
 * The raw UDP relay, in its own process; the sender registers first and
 * sends chatd's `say` datagrams (the relay reads `text` and `id`).
 */
export async function relayTarget(coalesce: boolean, room: string, nodeArgs: string[] = []): Promise<FanoutTarget> {
  const kind: TargetKind = coalesce ? 'relay-on' : 'relay-off';
  const server = await startServer('relay-udp.js', ['--coalesce', coalesce ? 'on' : 'off', '--room', room], TARGET_LABELS[kind], nodeArgs);
  let peer: UdpPeer | undefined;
  try {
    peer = await UdpPeer.open(clientAddress(10, 0), 4 << 20);
    await peer.register(server.port, 'sender');
    // The same bytes as chatd's say (a token the relay ignores).
    const token = 'x'.repeat(24);
    return {
      kind,
      label: TARGET_LABELS[kind],
      serverPid: server.pid,
      helperPid: undefined,
      datagrams: true,
      members: { kind: 'relay', port: server.port },
      senders: [udpSender(peer, (id, text) => ({ type: 'say', token, id, text }), server.port)],
      check: checkServer(server, TARGET_LABELS[kind]),
      close: async () => {
        peer?.close();
        await server.stop();
      },
    };
  } catch (err) {
    peer?.close();
    await server.stop();
    throw err;
  }
}

/** The Socket.IO room server, in its own process; the sender is a Socket.IO client of the driver (websocket). */
export async function socketIoTarget(room: string, nodeArgs: string[] = []): Promise<FanoutTarget> {
  const server = await startServer('socketio-server.js', [], TARGET_LABELS.socketio, nodeArgs);
  const { io } = await import('socket.io-client');
  const sock = io(`http://127.0.0.1:${server.port}`, { transports: ['websocket'], forceNew: true, reconnection: false, timeout: 10_000 });
  try {
    await new Promise<void>((resolve, reject) => {
      sock.once('connect', () => resolve());
      sock.once('connect_error', (err) => reject(err));
    });
    await sock.timeout(10_000).emitWithAck('join', room, 'sender');
    const sender: Sender = {
      say: (id, text) => void sock.emit('say', { id, text }),
      onReceive: undefined,
      onError: undefined,
      close: () => void sock.disconnect(),
    };
    sock.on('msg', (ev: { text?: unknown } | undefined) => {
      const b = parseBenchText(ev?.text);
      sender.onReceive?.(b ? [b] : [], nowUs());
    });
    return {
      kind: 'socketio',
      label: TARGET_LABELS.socketio,
      serverPid: server.pid,
      helperPid: undefined,
      datagrams: false,
      members: { kind: 'socketio', port: server.port, room },
      senders: [sender],
      check: checkServer(server, TARGET_LABELS.socketio),
      close: async () => {
        sock.disconnect();
        await server.stop();
      },
    };
  } catch (err) {
    sock.disconnect();
    await server.stop();
    throw err;
  }
}
