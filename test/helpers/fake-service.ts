// A fake chatd for client tests over real UDP on loopback, written with
// bare sockets: control and room endpoints that record what they receive
// and answer the way a test tells them (FakeEndpoint), and a room that
// answers hb, fetch, say (a say id it has sequenced gets its original msg),
// who and leave for one member, unless it is made silent (FakeRoom). It
// plays what a room looks like to a member when its node dies and another
// node resumes it elsewhere (protocol "Several nodes (cluster mode)").
import { createSocket, type Socket } from 'node:dgram';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export type Obj = Record<string, unknown>;
export interface From {
  address: string;
  port: number;
}

/** How long next() waits for a datagram. */
export const WAIT_MS = 10_000;
export const ROOM = 'lobby';
/** The one member's token and id; its nick is `me`. */
export const TOKEN = 'tok_abcdefghijklmnopqrstu';
export const MEMBER = 'me00000001';
export const HEARTBEAT_MS = 1_000;

/** One UDP socket of the fake service: what it received, in order, and a handler that may answer. */
export class FakeEndpoint {
  readonly received: Array<{ obj: Obj; from: From }> = [];
  /** Answers a request (or not). */
  handler: (obj: Obj, from: From) => void = () => {};
  private readonly waiters = new Set<() => void>();

  private constructor(
    private readonly sock: Socket,
    readonly host: string,
  ) {
    sock.on('message', (buf, rinfo) => {
      const obj = JSON.parse(buf.toString('utf8')) as Obj;
      const from = { address: rinfo.address, port: rinfo.port };
      this.received.push({ obj, from });
      this.handler(obj, from);
      for (const w of [...this.waiters]) w();
    });
  }

  static async open(t: Teardown, host: string, port = 0): Promise<FakeEndpoint> {
    const sock = createSocket('udp4');
    await new Promise<void>((resolve, reject) => {
      sock.once('error', reject);
      sock.bind(port, host, () => resolve());
    });
    t.teardown(() => new Promise<void>((resolve) => sock.close(() => resolve())));
    return new FakeEndpoint(sock, host);
  }

  get port(): number {
    return this.sock.address().port;
  }

  send(to: From, ...objs: Obj[]): void {
    this.sock.send(objs.map((o) => JSON.stringify(o)).join('\n'), to.port, to.address);
  }

  of(type: string): Obj[] {
    return this.received.filter((r) => r.obj['type'] === type).map((r) => r.obj);
  }

  /** The first datagram received (or to come) after the first `skip` that matches pred. */
  next(pred: (o: Obj) => boolean, what: string, skip = 0): Promise<Obj> {
    return new Promise((resolve, reject) => {
      const check = () => {
        const hit = this.received.slice(skip).find((r) => pred(r.obj));
        if (!hit) return false;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve(hit.obj);
        return true;
      };
      const waiter = () => void check();
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out waiting for ${what} at ${this.host}:${this.port}`));
      }, WAIT_MS);
      if (!check()) this.waiters.add(waiter);
    });
  }
}

/** A room endpoint: answers hb, fetch, say (a say id it has sequenced gets its original msg), who and leave, unless silent. */
export class FakeRoom {
  silent = false;
  /** The member's endpoint, once its first datagram came (before that, nothing is pushed to it). */
  member: From | undefined;
  constructor(
    readonly ep: FakeEndpoint,
    readonly history: Obj[],
  ) {
    ep.handler = (o, from) => this.answer(o, from);
  }

  get latest(): number {
    return Math.max(0, ...this.history.map((e) => Number(e['seq'])));
  }

  /** Sequences an event and pushes it to the member (if it has been heard from and the room is not silent). */
  push(e: Obj): void {
    this.history.push(e);
    if (this.member && !this.silent) this.ep.send(this.member, e);
  }

  private answer(o: Obj, from: From): void {
    if (this.silent || o['token'] !== TOKEN) return;
    this.member = from;
    switch (o['type']) {
      case 'hb':
        return this.ep.send(from, { type: 'hb', room: ROOM, seq: this.latest });
      case 'fetch': {
        const to = Math.min(Number(o['to']), this.latest);
        const held = this.history.filter((e) => Number(e['seq']) >= Number(o['from']) && Number(e['seq']) <= to);
        return this.ep.send(from, ...held, { type: 'fetched', room: ROOM, from: o['from'], to });
      }
      case 'say': {
        const before = this.history.find((e) => e['type'] === 'msg' && e['id'] === o['id'] && e['member'] === MEMBER);
        if (before) return this.ep.send(from, before); // the original, to the sender only
        return this.push(msg(this.latest + 1, { member: MEMBER, nick: 'me', text: String(o['text']), id: String(o['id']) }));
      }
      case 'who':
        return this.ep.send(from, { type: 'members', id: o['id'], room: ROOM, members: [{ member: MEMBER, nick: 'me' }], more: false });
      case 'leave':
        return this.ep.send(from, { type: 'left', id: o['id'], room: ROOM });
    }
  }
}

/** A room's history up to our own join at seq 3. */
export function beforeUs(): Obj[] {
  return [msg(1), msg(2), { type: 'presence', room: ROOM, seq: 3, event: 'join', member: MEMBER, nick: 'me' }];
}

export function msg(seq: number, extra: Obj = {}): Obj {
  return { type: 'msg', room: ROOM, seq, member: 'bob0000001', nick: 'bob', text: `m${seq}`, ts: 1_700_000_000_000 + seq, id: `say-${seq}`, ...extra };
}

export function joined(id: unknown, room: FakeEndpoint, seq: number, token = TOKEN): Obj {
  return { type: 'joined', id, room: ROOM, host: room.host, port: room.port, member: MEMBER, token, nick: 'me', members: 2, seq, heartbeatMs: HEARTBEAT_MS };
}
