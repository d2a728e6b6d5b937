// An in-memory network for ChatClient tests: the client's datagrams are
// recorded (decoded), and the test plays the server by delivering NDJSON
// datagrams from a chosen port. Time is a ManualClock, so nothing sleeps.
import { ManualClock } from '../../lib/clock.js';
import { ChatClient, type ChatClientOptions, type ClientTransport, type JoinInfo, type RemoteInfo } from '../../client/chat-client.js';

export const SERVER = '127.0.0.1';
export const CONTROL_PORT = 7447;
export const ROOM_PORT = 40_001;
export const TOKEN = 'tok_abcdefghijklmnopqrstu';
export const MEMBER = 'me00000001';

export type Obj = Record<string, unknown>;

export interface Sent {
  obj: Obj;
  port: number;
  host: string;
  bytes: number;
}

export class MemoryTransport implements ClientTransport {
  readonly sent: Sent[] = [];
  /** Datagrams the "OS" refused (refuseWith was set): not on the wire. */
  readonly refused: Sent[] = [];
  /** When set, send() throws an Error with this code, as a refused sendto does (EPERM from a local firewall). */
  refuseWith: string | undefined;
  closed = false;
  private receiver: ((buf: Buffer, from: RemoteInfo) => void) | undefined;
  private errorFn: ((err: Error) => void) | undefined;

  send(buf: Buffer, port: number, host: string): void {
    if (this.closed) throw new Error('send after close');
    const s = { obj: JSON.parse(buf.toString('utf8')) as Obj, port, host, bytes: buf.length };
    if (this.refuseWith !== undefined) {
      this.refused.push(s);
      throw Object.assign(new Error(`send ${this.refuseWith}`), { code: this.refuseWith, syscall: 'send' });
    }
    this.sent.push(s);
  }

  onMessage(fn: (buf: Buffer, from: RemoteInfo) => void): void {
    this.receiver = fn;
  }

  onError(fn: (err: Error) => void): void {
    this.errorFn = fn;
  }

  /** A failure reported later, as a real socket's send callback or 'error' event does. */
  fail(err: Error): void {
    this.errorFn?.(err);
  }

  address(): RemoteInfo {
    return { address: '127.0.0.1', port: 50_000 };
  }

  async close(): Promise<void> {
    this.closed = true;
  }

  /** One datagram from the server holding these objects (strings go in verbatim), NDJSON-joined. */
  deliver(port: number, ...objs: Array<Obj | string>): void {
    const text = objs.map((o) => (typeof o === 'string' ? o : JSON.stringify(o))).join('\n');
    this.receiver?.(Buffer.from(text, 'utf8'), { address: SERVER, port });
  }

  deliverFrom(from: RemoteInfo, ...objs: Obj[]): void {
    this.receiver?.(Buffer.from(objs.map((o) => JSON.stringify(o)).join('\n')), from);
  }

  /** Sent objects of a type (and port, when given). */
  of(type: string, port?: number): Obj[] {
    return this.sent.filter((s) => s.obj['type'] === type && (port === undefined || s.port === port)).map((s) => s.obj);
  }

  /** The most recent sent object of a type; fails loudly when there is none. */
  last(type: string, port?: number): Obj {
    const all = this.of(type, port);
    const o = all.at(-1);
    if (!o) throw new Error(`nothing of type ${type} was sent`);
    return o;
  }

  clear(): void {
    this.sent.length = 0;
  }
}

export type Recorded =
  | { kind: 'message' | 'presence'; seq: number; text?: string }
  | { kind: 'gap'; from: number; to: number }
  | { kind: 'closed'; room: string; reason: string }
  | { kind: 'evicted' | 'membership-lost'; room: string }
  | { kind: 'rejoining'; room: string; reason: string; attempt: number; delayMs: number }
  | { kind: 'rejoined'; room: string; seq: number; previousSeq: number }
  | { kind: 'rejoin-failed'; room: string; code: string }
  | { kind: 'moved'; room: string; host: string; port: number; from: { host: string; port: number } };

export interface Harness {
  client: ChatClient;
  clock: ManualClock;
  net: MemoryTransport;
  events: Recorded[];
  /** Seqs of delivered msg/presence events, in delivery order. */
  seqs(): number[];
}

export function makeClient(opts: Partial<ChatClientOptions> = {}): Harness {
  const clock = new ManualClock();
  const net = new MemoryTransport();
  const at = opts.servers === undefined ? { host: SERVER, port: CONTROL_PORT } : {};
  const client = new ChatClient({ ...at, clock, transport: net, ...opts });
  const events: Recorded[] = [];
  client.on('message', (m) => events.push({ kind: 'message', seq: m.seq, text: m.text }));
  client.on('presence', (p) => events.push({ kind: 'presence', seq: p.seq }));
  client.on('gap', (g) => events.push({ kind: 'gap', from: g.from, to: g.to }));
  client.on('closed', (c) => events.push({ kind: 'closed', ...c }));
  client.on('evicted', (e) => events.push({ kind: 'evicted', ...e }));
  client.on('membership-lost', (e) => events.push({ kind: 'membership-lost', ...e }));
  client.on('rejoining', (r) => events.push({ kind: 'rejoining', ...r }));
  client.on('rejoined', (r) => events.push({ kind: 'rejoined', ...r }));
  client.on('rejoin-failed', (f) => events.push({ kind: 'rejoin-failed', room: f.room, code: f.error.code }));
  client.on('moved', (m) => events.push({ kind: 'moved', ...m }));
  const seqs = () => events.flatMap((e) => (e.kind === 'message' || e.kind === 'presence' ? [e.seq] : []));
  return { client, clock, net, events, seqs };
}

export function joinedReply(id: string, room: string, seq: number, extra: Obj = {}): Obj {
  return { type: 'joined', id, room, port: ROOM_PORT, member: MEMBER, token: TOKEN, nick: 'me', members: 2, seq, heartbeatMs: 1_000, ...extra };
}

/** A client already in `room`, whose own join is at `seq`; the sent log is cleared after the first hb. */
export async function joinedClient(room = 'lobby', seq = 3, opts: Partial<ChatClientOptions> = {}): Promise<Harness & { info: JoinInfo }> {
  const h = makeClient(opts);
  const p = h.client.join(room, 'me');
  const join = h.net.last('join', CONTROL_PORT);
  h.net.deliver(CONTROL_PORT, joinedReply(String(join['id']), room, seq));
  const info = await p;
  h.net.clear();
  return { ...h, info };
}

export function msg(seq: number, extra: Obj = {}, room = 'lobby'): Obj {
  return { type: 'msg', room, seq, member: 'other00001', nick: 'bob', text: `m${seq}`, ts: 1_700_000_000_000 + seq, id: `say-${seq}`, ...extra };
}

export function presence(seq: number, event = 'join', room = 'lobby'): Obj {
  return { type: 'presence', room, seq, event, member: `p${seq}`, nick: `nick${seq}` };
}

/** Lets pending promise continuations run (no time passes on any clock). */
export function settle(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

// ---- a second membership: rejoin tests -------------------------------------

/** The token and member id of the membership a rejoin brings. */
export const TOKEN2 = 'tok_ZYXWVUTSRQPONMLKJIHGF';
export const MEMBER2 = 'me00000002';

/** The joins the client sent to the control endpoint. */
export function joins(net: MemoryTransport): Obj[] {
  return net.of('join', CONTROL_PORT);
}

/** Answers the latest join with a new membership (TOKEN2, MEMBER2) whose own join is at seq, then lets the client react. */
export async function answerJoin(net: MemoryTransport, seq: number, extra: Obj = {}): Promise<void> {
  const id = String(net.last('join', CONTROL_PORT)['id']);
  net.deliver(CONTROL_PORT, joinedReply(id, 'lobby', seq, { token: TOKEN2, member: MEMBER2, ...extra }));
  await settle();
}

/** Refuses the latest join, then lets the client react. */
export async function refuseJoin(net: MemoryTransport, code: string): Promise<void> {
  net.deliver(CONTROL_PORT, { type: 'error', code, message: `refused: ${code}`, id: net.last('join', CONTROL_PORT)['id'] });
  await settle();
}

/** The kinds of the events the application saw, in order. */
export function kinds(h: Harness): string[] {
  return h.events.map((e) => e.kind);
}
