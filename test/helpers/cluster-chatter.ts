// A member speaking raw JSON that follows its room across a failover as a
// client must (protocol section 10), and the checks every cluster fault test
// ends with: nothing acknowledged lost or moved, no seq given to two events,
// no hole. Shared by the cluster tests (and the members fixture run inside
// a network namespace, test/fixtures/netns-cluster-members.ts) so that each
// proves the same guarantee the same way, whatever fault it injects.
import type { Test } from 'tap';
import { RawClient, type Obj } from './raw-client.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export interface Endpoint {
  host: string;
  port: number;
}

export const endpointKey = (e: Endpoint): string => `${e.host}:${e.port}`;

/** A say waits this long for its msg before it is resent (same id). */
const RESEND_MS = 300;
/** The room counts as silent after this long without a datagram from it; then `where` is asked. */
const SILENT_MS = 600;
/** How often `where` is asked while the room is silent (a forwarded where can take a while under load). */
const WHERE_EVERY_MS = 200;
const STEP_MS = 20;

interface Heard {
  at: number;
  from: string;
  o: Obj;
}

export class Chatter {
  /** seq -> what it was (an event's identity), from everything this member received. */
  readonly seen = new Map<number, string>();
  /** say id -> the seq its msg (the acknowledgement) carried. */
  readonly acked = new Map<string, number>();
  /** Every datagram received, with its source, for checks on who answered what and when. */
  readonly heard: Heard[] = [];
  readonly conflicts: string[] = [];
  room: Endpoint;
  moves = 0;
  private n = 0;
  private pending: { id: string; sentAt: number } | undefined;
  private lastSayAt = 0;
  private lastHeard = Date.now();
  private lastWhere = 0;

  constructor(
    readonly c: RawClient,
    readonly name: string,
    readonly roomName: string,
    readonly token: string,
    room: Endpoint,
    /** The least time between two new says: keeps a long test within the say rate and the history kept. */
    private readonly sayEveryMs = 0,
  ) {
    this.room = room;
  }

  /**
   * Opens a client (bound to `bind`, 127.0.0.1 by default), joins at a
   * control endpoint and proves the address with an hb at the room endpoint
   * `joined` names.
   */
  static async join(t: Teardown, name: string, roomName: string, control: Endpoint, opts: { sayEveryMs?: number; bind?: string } = {}): Promise<Chatter> {
    const c = await RawClient.open(t, opts.bind);
    const j = await c.request({ type: 'join', id: `j-${name}`, room: roomName, nick: name }, control.port, 15_000, control.host);
    if (j['type'] !== 'joined') throw new Error(`${name}: join failed: ${JSON.stringify(j)}`);
    const room = { host: j['host'] as string, port: j['port'] as number };
    c.send({ type: 'hb', token: j['token'] }, room.port, room.host);
    await c.next((o) => o['type'] === 'hb', 15_000, `${name}: hb reply`);
    return new Chatter(c, name, roomName, j['token'] as string, room, opts.sayEveryMs);
  }

  /** Sends to the room endpoint this member uses now. */
  send(o: Obj): void {
    this.c.send(o, this.room.port, this.room.host);
  }

  /** Takes every datagram received so far: notes events (checking no seq ever means two), acks, and `here` (moving there). */
  absorb(): void {
    const now = Date.now();
    for (const o of this.c.received.splice(0)) {
      const from = `${this.c.fromHost(o) ?? '?'}:${o.fromPort}`;
      this.heard.push({ at: now, from, o });
      if (from === endpointKey(this.room)) this.lastHeard = now;
      if (o['type'] === 'msg' || o['type'] === 'presence') this.note(o);
      if (o['type'] === 'msg' && String(o['id']).startsWith(`${this.name}-`) && typeof o['seq'] === 'number') {
        this.acked.set(String(o['id']), o['seq']);
        if (this.pending?.id === o['id']) this.pending = undefined;
      }
      if (o['type'] === 'here' && endpointKey({ host: o['host'] as string, port: o['port'] as number }) !== endpointKey(this.room)) {
        this.room = { host: o['host'] as string, port: o['port'] as number };
        this.moves++;
        this.lastHeard = now;
        // The first datagram at the new endpoint proves the address; the pending say follows at once.
        this.send({ type: 'hb', token: this.token });
        if (this.pending) this.pending.sentAt = 0;
      }
    }
  }

  private note(o: Obj): void {
    const seq = o['seq'] as number;
    const key = o['type'] === 'msg' ? `msg:${String(o['member'])}:${String(o['id'])}:${String(o['text'])}` : `presence:${String(o['event'])}:${String(o['member'])}`;
    const had = this.seen.get(seq);
    if (had !== undefined && had !== key) this.conflicts.push(`seq ${seq}: ${had} and ${key}`);
    this.seen.set(seq, key);
  }

  /** One step: the next say (or the pending one again, same id), and `where` at a live control endpoint while the room is silent. */
  step(control: readonly Endpoint[]): void {
    this.absorb();
    const now = Date.now();
    if (!this.pending && now - this.lastSayAt >= this.sayEveryMs) {
      this.pending = { id: `${this.name}-${++this.n}`, sentAt: 0 };
      this.lastSayAt = now;
    }
    if (this.pending && now - this.pending.sentAt > RESEND_MS) {
      this.send({ type: 'say', token: this.token, id: this.pending.id, text: `${this.pending.id} text` });
      this.pending.sentAt = now;
    }
    if (now - this.lastHeard > SILENT_MS && now - this.lastWhere >= WHERE_EVERY_MS && control.length > 0) {
      const at = control[Math.floor(Math.random() * control.length)]!;
      this.c.send({ type: 'where', id: `w-${this.name}-${now}`, room: this.roomName, token: this.token }, at.port, at.host);
      this.lastWhere = now;
    }
  }

  /** Highest seq this member was acknowledged. */
  topAcked(): number {
    return Math.max(0, ...this.acked.values());
  }

  /**
   * Fetches 1..top at the current endpoint until every seq is held (the room
   * answers at most 256 events a request, and a burst of datagrams may be
   * dropped on the way): `seen` then holds the room's whole history.
   */
  async fetchAll(top: number, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      this.absorb();
      const missing: number[] = [];
      for (let s = 1; s <= top; s++) if (!this.seen.has(s)) missing.push(s);
      if (missing.length === 0) return;
      if (Date.now() > deadline) throw new Error(`${this.name}: fetch left ${missing.length} seqs missing (first ${missing[0]})`);
      const from = missing[0]!;
      this.send({ type: 'fetch', token: this.token, from, to: Math.min(top, from + 255) });
      try {
        await this.c.next((o) => o['type'] === 'fetched', 2_000, 'fetched');
      } catch {
        // Resent on the next round.
      }
    }
  }
}

/** Steps every chatter until done() holds; throws after timeoutMs naming what was awaited. */
export async function chatUntil(chatters: readonly Chatter[], control: () => readonly Endpoint[], what: string, timeoutMs: number, done: () => boolean): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!done()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms: ${what}; acked ${chatters.map((x) => `${x.name} ${x.acked.size}`).join(', ')}`);
    for (const x of chatters) x.step(control());
    await new Promise((r) => setTimeout(r, STEP_MS));
  }
}

/** What one member saw, as the history checks need it (a Chatter, or one reported by a process in a namespace). */
export interface HistoryView {
  /** seq -> the event's identity. */
  readonly seen: ReadonlyMap<number, string>;
  /** say id -> the seq it was acknowledged with. */
  readonly acked: ReadonlyMap<string, number>;
  /** Seqs this member itself saw given to two events. */
  readonly conflicts: readonly string[];
}

export interface HistoryProblems {
  /** The highest seq acknowledged to anyone: the history checked is 1..top. */
  top: number;
  /** How many says were acknowledged. */
  acked: number;
  conflicts: string[];
  missing: number[];
  /** Acknowledged says not held exactly once at their seq. */
  wrong: string[];
}

/**
 * The guarantee of cluster mode, over the union of what the members saw
 * (each having fetched 1..top): no seq was given to two events, 1..top has
 * no hole, and every acknowledged say is in the history exactly once, at
 * the seq it was acknowledged with.
 */
export function historyProblems(views: readonly HistoryView[]): HistoryProblems {
  const top = Math.max(0, ...views.flatMap((x) => [...x.acked.values()]));
  const union = new Map<number, string>();
  const conflicts = views.flatMap((x) => x.conflicts);
  for (const x of views) {
    for (const [seq, key] of x.seen) {
      const had = union.get(seq);
      if (had !== undefined && had !== key) conflicts.push(`seq ${seq}: ${had} and ${key}`);
      union.set(seq, key);
    }
  }
  const missing: number[] = [];
  for (let s = 1; s <= top; s++) if (!union.has(s)) missing.push(s);
  // say id -> every seq holding it
  const holders = new Map<string, number[]>();
  for (const [seq, key] of union) {
    if (!key.startsWith('msg:')) continue;
    const id = key.split(':')[2]!;
    holders.set(id, [...(holders.get(id) ?? []), seq]);
  }
  const wrong: string[] = [];
  let acked = 0;
  for (const x of views) {
    for (const [id, seq] of x.acked) {
      acked++;
      const at = holders.get(id) ?? [];
      if (at.length !== 1 || at[0] !== seq) wrong.push(`${id} acked at ${seq}, held at [${at.join(', ')}]`);
    }
  }
  return { top, acked, conflicts, missing, wrong };
}

/** One assertion per part of the guarantee (historyProblems). */
export function assertHistory(t: Test, p: HistoryProblems): void {
  t.same(p.conflicts, [], 'no seq was given to two different events');
  t.same(p.missing, [], `the full history 1..${p.top} is held: no hole`);
  t.same(p.wrong, [], `each of the ${p.acked} acknowledged says is in the history exactly once, at the seq it was acknowledged with`);
}

/** Each chatter fetches the whole history, then the guarantee is checked over everything they saw. Returns top. */
export async function checkHistory(t: Test, chatters: readonly Chatter[]): Promise<number> {
  const top = Math.max(...chatters.map((x) => x.topAcked()));
  for (const x of chatters) await x.fetchAll(top);
  const p = historyProblems(chatters);
  assertHistory(t, p);
  return p.top;
}
