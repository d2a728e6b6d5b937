// A bare UDP peer speaking chatd's JSON (protocol-v1), used by the load
// driver and the member workers: one socket per member, as real clients
// have. Server datagrams may hold several objects separated by "\n".
import { createSocket, type Socket } from 'node:dgram';

export type Obj = Record<string, unknown>;

/** chatd listens here. */
const HOST = '127.0.0.1';

/**
 * A loopback source address of its own for simulated client i of a block
 * (127.<block>.x.y; all of 127/8 is loopback on Linux). Real clients come
 * from different addresses, and chatd's control-plane limits (joins, room
 * creations, ... per source address) apply per client only if the bench's
 * clients do too, instead of being loosened in the config.
 */
export function clientAddress(block: number, i: number): string {
  return `127.${block}.${Math.floor(i / 250) % 250}.${(i % 250) + 1}`;
}

/** Microseconds on the system-wide monotonic clock: comparable across processes of one machine. */
export function nowUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

export interface Membership {
  room: string;
  port: number;
  token: string;
  member: string;
  heartbeatMs: number;
}

export class UdpPeer {
  /** Called with the objects of every datagram received and its arrival time (µs). */
  onDatagram: ((objs: Obj[], atUs: number) => void) | undefined;

  /**
   * If set, called instead of onDatagram with the raw datagram while no
   * request awaits a reply (the member workers count deliveries this way,
   * without parsing every event: see scanBenchTexts).
   */
  onRaw: ((buf: Buffer, atUs: number) => void) | undefined;
  private readonly waiters = new Set<(o: Obj) => boolean>();
  private hbTimer: NodeJS.Timeout | undefined;

  private constructor(private readonly sock: Socket) {
    sock.on('message', (buf) => {
      const at = nowUs();
      if (this.onRaw && this.waiters.size === 0) return this.onRaw(buf, at);
      const objs: Obj[] = [];
      for (const line of buf.toString('utf8').split('\n')) {
        if (line === '') continue;
        try {
          objs.push(JSON.parse(line) as Obj);
        } catch {
          /* not ours to judge here */
        }
      }
      if (this.waiters.size > 0) for (const o of objs) for (const w of this.waiters) if (w(o)) break;
      this.onDatagram?.(objs, at);
    });
    sock.on('error', () => {
      /* a bench peer never fails the run on a socket error; missing replies time out */
    });
  }

  /** Binds a socket on `address` (a loopback address; see clientAddress) and an ephemeral port. */
  static async open(address: string, bufferBytes = 1 << 20): Promise<UdpPeer> {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(0, address, () => {
        sock.off('error', reject);
        resolve();
      });
    });
    sock.setRecvBufferSize(bufferBytes);
    sock.setSendBufferSize(bufferBytes);
    return new UdpPeer(sock);
  }

  send(msg: Obj | Buffer, port: number): void {
    this.sock.send(Buffer.isBuffer(msg) ? msg : Buffer.from(JSON.stringify(msg)), port, HOST);
  }

  /** Resolves with the first object received from now on that matches, or rejects after timeoutMs. */
  next(pred: (o: Obj) => boolean, timeoutMs: number, what: string): Promise<Obj> {
    return new Promise((resolve, reject) => {
      const w = (o: Obj) => {
        if (!pred(o)) return false;
        clearTimeout(timer);
        this.waiters.delete(w);
        resolve(o);
        return true;
      };
      const timer = setTimeout(() => {
        this.waiters.delete(w);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`));
      }, timeoutMs);
      this.waiters.add(w);
    });
  }

  /** Sends a request and awaits the reply with its id, resending the same request (same id: idempotent) on silence. */
  async request(msg: Obj & { id: string }, port: number, timeoutMs = 2_000, attempts = 3): Promise<Obj> {
    for (let i = 1; ; i++) {
      const reply = this.next((o) => o['id'] === msg.id, timeoutMs, `the reply to ${String(msg['type'])} ${msg.id}`);
      this.send(msg, port);
      try {
        return await reply;
      } catch (err) {
        if (i >= attempts) throw err;
      }
    }
  }

  /** Joins (creating the room if new) without proving the address; throws on a refusal. */
  async joinOnly(controlPort: number, room: string, nick: string, id = `j-${room}-${nick}`): Promise<Membership> {
    const j = await this.request({ type: 'join', id, room, nick }, controlPort, 6_000);
    if (j['type'] !== 'joined') throw new Error(`join ${room} as ${nick} refused: ${JSON.stringify(j)}`);
    return { room, port: j['port'] as number, token: j['token'] as string, member: j['member'] as string, heartbeatMs: j['heartbeatMs'] as number };
  }

  /**
   * Joins, then sends hb at once (the room sends a member nothing before its
   * first datagram) and every heartbeatMs after, as clients must.
   */
  async join(controlPort: number, room: string, nick: string): Promise<Membership> {
    const m = await this.joinOnly(controlPort, room, nick);
    for (let attempt = 1; ; attempt++) {
      const hbReply = this.next((o) => o['type'] === 'hb' && o['room'] === room, 2_000, `the hb reply in ${room}`);
      this.send({ type: 'hb', token: m.token }, m.port);
      try {
        await hbReply;
        break;
      } catch (err) {
        if (attempt >= 3) throw err;
      }
    }
    this.hbTimer = setInterval(() => this.send({ type: 'hb', token: m.token }, m.port), m.heartbeatMs);
    return m;
  }

  /**
   * Registers with the raw UDP relay of the comparison (bench/relay-udp.ts):
   * it relays to every endpoint that registered. Resolves with the member id.
   */
  async register(port: number, nick: string): Promise<string> {
    const r = await this.request({ type: 'register', id: `reg-${nick}`, nick }, port, 2_000);
    if (r['type'] !== 'registered') throw new Error(`register ${nick} refused: ${JSON.stringify(r)}`);
    return String(r['member']);
  }

  close(): void {
    if (this.hbTimer) clearInterval(this.hbTimer);
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

/** Runs fn over items with at most `limit` in flight; rejects on the first failure. */
export async function inParallel<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, lane));
  return out;
}
