// A bare UDP client that speaks raw JSON, as `nc -u` would: no retries, no
// ordering. Received objects are queued; tests await the next match.
import { createSocket, type Socket } from 'node:dgram';

export type Obj = Record<string, unknown>;

interface Teardown {
  teardown(fn: () => unknown): void;
}

export class RawClient {
  readonly received: Array<Obj & { fromPort: number }> = [];
  private readonly sock: Socket;
  private readonly waiters = new Set<() => void>();
  // Kept apart from the objects so that tests comparing replies whole see no new field.
  private readonly hosts = new WeakMap<object, string>();

  private constructor(sock: Socket) {
    this.sock = sock;
    sock.on('message', (buf, rinfo) => {
      for (const line of buf.toString('utf8').split('\n')) {
        if (line.trim() === '') continue;
        const o = { ...(JSON.parse(line) as Obj), fromPort: rinfo.port };
        this.hosts.set(o, rinfo.address);
        this.received.push(o);
      }
      for (const w of this.waiters) w();
    });
  }

  /** Binds an ephemeral port on a loopback address (127.0.0.2 etc. act as other hosts for per-address limits). */
  static async open(t: Teardown, address = '127.0.0.1'): Promise<RawClient> {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve) => sock.bind(0, address, resolve));
    const c = new RawClient(sock);
    t.teardown(() => c.close());
    return c;
  }

  get port(): number {
    return this.sock.address().port;
  }

  /** host: a cluster's nodes each have their own loopback address (test/helpers/cluster.ts). */
  send(msg: object | string | Buffer, port: number, host = '127.0.0.1'): void {
    const buf = Buffer.isBuffer(msg) ? msg : Buffer.from(typeof msg === 'string' ? msg : JSON.stringify(msg));
    this.sock.send(buf, port, host);
  }

  /** The address a received object came from (its port is `fromPort`). */
  fromHost(o: Obj): string | undefined {
    return this.hosts.get(o);
  }

  /** Removes and returns the first received object matching pred, waiting up to timeoutMs. */
  next(pred: (o: Obj) => boolean, timeoutMs = 15_000, what = 'a matching datagram'): Promise<Obj & { fromPort: number }> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const i = this.received.findIndex(pred);
        if (i < 0) return;
        done();
        resolve(this.received.splice(i, 1)[0]!);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out waiting for ${what}; got ${JSON.stringify(this.received).slice(0, 500)}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(check);
      };
      this.waiters.add(check);
      check();
    });
  }

  /** Sends and waits for the reply carrying the same id. */
  async request(msg: Obj & { id: string }, port: number, timeoutMs = 15_000, host = '127.0.0.1'): Promise<Obj> {
    this.send(msg, port, host);
    return this.next((o) => o['id'] === msg.id, timeoutMs, `reply to ${msg.id}`);
  }

  /** Joins and proves the address with an hb, as a client must (protocol "Anti-amplification"). */
  async join(port: number, room: string, nick: string, id = `join-${room}-${nick}`): Promise<Membership> {
    const j = await this.request({ type: 'join', id, room, nick }, port);
    if (j['type'] !== 'joined') throw new Error(`join failed: ${JSON.stringify(j)}`);
    this.send({ type: 'hb', token: j['token'] }, j['port'] as number);
    await this.next((o) => o['type'] === 'hb' && o['room'] === room, 15_000, `hb reply in ${room}`);
    return { room, token: j['token'] as string, port: j['port'] as number, member: j['member'] as string, seq: j['seq'] as number };
  }

  close(): void {
    try {
      this.sock.close();
    } catch {
      /* closed */
    }
  }
}

export interface Membership {
  room: string;
  token: string;
  port: number;
  member: string;
  seq: number;
}
