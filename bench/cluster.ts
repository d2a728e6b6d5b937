// Scenario 9, cluster mode (docs/cluster.md), against real nats-server
// processes and real chatd nodes on loopback:
//   - join latency through a node that does not hold the room, beside a
//     join at the node that does (each from a fresh socket: a new client);
//   - failover: a room with two chatting members, its node SIGKILLed (the
//     supervisor and its rooms), n times: how long until both members have
//     a say acknowledged again (they ask `where` as soon as the room is
//     silent), and how many acknowledged messages the history lost;
//   - rooms per node: memory of a room process in cluster mode beside a
//     single node's, and rooms created by joins spread over the nodes.
// The fan-out figures in cluster mode run the fan-out ladder of scenario 1
// against a node whose journal is JetStream (bench/run.ts).
import type { Chatd } from '../test/helpers/chatd.js';
import { sigkill, waitGone } from '../test/helpers/pids.js';
import { pssBytes } from './proc-stat.js';
import { median, percentile } from './stats.js';
import { fmt, mb } from './table.js';
import { clientAddress, nowUs, sleep, UdpPeer, type Obj } from './udp.js';

export interface RemoteJoinRow {
  what: string;
  n: number;
  p50Ms: number;
  p99Ms: number;
}

export const REMOTE_JOIN_HEADERS = ['join', 'n', 'p50 ms', 'p99 ms'];

export function remoteJoinCells(r: RemoteJoinRow): string[] {
  return [r.what, String(r.n), fmt(r.p50Ms, 2), fmt(r.p99Ms, 2)];
}

/**
 * Joins into a room `holder` holds, alternately at the holder (local) and
 * at `other` (forwarded over NATS to the holder and back).
 */
export async function runRemoteJoin(holder: Chatd, other: Chatd, joins = 50): Promise<RemoteJoinRow[]> {
  const peers: UdpPeer[] = [];
  const open = async () => {
    const p = await UdpPeer.open(clientAddress(40, peers.length));
    peers.push(p);
    return p;
  };
  try {
    await (await open()).join(holder.port, 'lobby', 'host');
    const local: number[] = [];
    const remote: number[] = [];
    for (let i = 0; i < joins; i++) {
      for (const [port, into] of [
        [holder.port, local],
        [other.port, remote],
      ] as const) {
        const p = await open();
        const t0 = nowUs();
        await p.joinOnly(port, 'lobby', `g${into === local ? 'l' : 'r'}${i}`);
        into.push((nowUs() - t0) / 1000);
        p.close();
      }
    }
    const row = (what: string, ms: number[]): RemoteJoinRow => ({ what, n: ms.length, p50Ms: percentile(ms, 50), p99Ms: percentile(ms, 99) });
    return [row('at the node holding the room', local), row('at another node (forwarded over NATS)', remote)];
  } finally {
    for (const p of peers) p.close();
  }
}

export interface FailoverRow {
  round: number;
  /** SIGKILL until both members had a say acknowledged at the new endpoint. */
  resumeMs: number;
  /** Acknowledged says missing from the history afterwards. */
  lost: number;
  acked: number;
}

export const FAILOVER_HEADERS = ['round', 'chatting again after (ms)', 'acked says', 'lost'];

export function failoverCells(r: FailoverRow): string[] {
  return [String(r.round), fmt(r.resumeMs), String(r.acked), String(r.lost)];
}

/** A member that says every `everyMs`, resends an unacknowledged say (same id), and asks `where` when its room is silent. */
class Talker {
  readonly acked = new Map<string, number>();
  port: number;
  private n = 0;
  private pending: { id: string; at: number } | undefined;
  private heard = Date.now();

  constructor(
    private readonly peer: UdpPeer,
    private readonly room: string,
    readonly token: string,
    port: number,
    private readonly name: string,
  ) {
    this.port = port;
    peer.onDatagram = (objs) => {
      for (const o of objs) this.take(o);
    };
  }

  private take(o: Obj): void {
    if (o['type'] === 'msg' && typeof o['id'] === 'string' && o['id'] === this.pending?.id) {
      this.acked.set(o['id'], o['seq'] as number);
      this.pending = undefined;
      this.heard = Date.now();
    } else if (o['type'] === 'hb') this.heard = Date.now();
    else if (o['type'] === 'here' && o['port'] !== this.port) {
      this.port = o['port'] as number;
      this.heard = Date.now();
      this.peer.send({ type: 'hb', token: this.token }, this.port);
    }
  }

  step(controlPorts: number[]): void {
    const now = Date.now();
    this.pending ??= { id: `${this.name}-${++this.n}`, at: 0 };
    if (now - this.pending.at > 250) {
      this.peer.send({ type: 'say', token: this.token, id: this.pending.id, text: `${this.pending.id}` }, this.port);
      this.pending.at = now;
    }
    if (now - this.heard > 400) {
      const port = controlPorts[this.n % controlPorts.length]!;
      this.peer.send({ type: 'where', id: `w-${now}`, room: this.room, token: this.token }, port);
    }
  }
}

/**
 * Rounds of: two members chat in a new room created at one of the live
 * nodes; that node is SIGKILLed; time until both have a say acknowledged
 * again; then the history is fetched and every acknowledged say looked up;
 * the killed node is started again (restart) for the next round.
 */
export async function runFailover(nodes: Chatd[], restart: (i: number) => Promise<Chatd>, rounds: number, onRow: (r: FailoverRow) => void): Promise<FailoverRow[]> {
  const rows: FailoverRow[] = [];
  for (let round = 1; round <= rounds; round++) {
    const victim = round % nodes.length;
    const room = `fo-${round}`;
    const peers = [await UdpPeer.open(clientAddress(60, 2 * round)), await UdpPeer.open(clientAddress(60, 2 * round + 1))];
    try {
      const talkers: Talker[] = [];
      for (const [i, p] of peers.entries()) {
        const m = await p.join(nodes[victim]!.port, room, `t${i}`);
        talkers.push(new Talker(p, room, m.token, m.port, `r${round}t${i}`));
      }
      const others = nodes.filter((_, i) => i !== victim).map((n) => n.port);
      const run = async (until: () => boolean, ms: number, what: string) => {
        const deadline = Date.now() + ms;
        while (!until()) {
          if (Date.now() > deadline) throw new Error(`failover round ${round}: timed out: ${what}`);
          for (const t of talkers) t.step(others);
          await sleep(10);
        }
      };
      await run(() => talkers.every((t) => t.acked.size >= 10), 15_000, '10 acks each');
      const node = nodes[victim]!;
      const pids = [node.pid, ...node.roomPids()];
      const killed = nowUs();
      for (const p of pids) sigkill(p);
      for (const p of pids) await waitGone(p, 5_000);
      await sleep(20);
      const before = talkers.map((t) => t.acked.size);
      await run(() => talkers.every((t, i) => t.acked.size > before[i]!), 30_000, 'acks after the kill');
      const resumeMs = (nowUs() - killed) / 1000;
      // The history: every acknowledged say must be there, at its seq.
      const top = Math.max(...talkers.flatMap((t) => [...t.acked.values()]));
      const history = new Map<number, string>();
      const peer = peers[0]!;
      const fetched = peer.next((o) => o['type'] === 'fetched', 5_000, 'fetched');
      const prev = peer.onDatagram;
      peer.onDatagram = (objs, at) => {
        for (const o of objs) if (o['type'] === 'msg') history.set(o['seq'] as number, String(o['id']));
        prev?.(objs, at);
      };
      peer.send({ type: 'fetch', token: talkers[0]!.token, from: 1, to: top }, talkers[0]!.port);
      await fetched;
      let lost = 0;
      let acked = 0;
      for (const t of talkers) {
        for (const [id, seq] of t.acked) {
          acked++;
          if (history.get(seq) !== id) lost++;
        }
      }
      const r = { round, resumeMs, lost, acked };
      rows.push(r);
      onRow(r);
      nodes[victim] = await restart(victim);
    } finally {
      for (const p of peers) p.close();
    }
  }
  return rows;
}

export function failoverSummary(rows: FailoverRow[]): { p50Ms: number; maxMs: number; lost: number } {
  const ms = rows.map((r) => r.resumeMs);
  return { p50Ms: median(ms), maxMs: Math.max(...ms), lost: rows.reduce((a, r) => a + r.lost, 0) };
}

export interface RoomsPerNodeRow {
  what: string;
  rooms: number;
  perNode: string;
  roomPssMb: string;
}

export const ROOMS_PER_NODE_HEADERS = ['setup', 'rooms held', 'rooms per node', 'PSS per room process MB (median)'];

export function roomsPerNodeCells(r: RoomsPerNodeRow): string[] {
  return [r.what, String(r.rooms), r.perNode, r.roomPssMb];
}

/**
 * Creates rooms (one heartbeating member each) through the nodes' control
 * endpoints in turn until every node refuses with TOO_MANY_ROOMS (each
 * node's maxRooms), and reads each room process's PSS.
 */
export async function runRoomsPerNode(what: string, nodes: Chatd[], maxRooms: number): Promise<RoomsPerNodeRow> {
  const peers: UdpPeer[] = [];
  const counts = nodes.map(() => 0);
  const pss: number[] = [];
  try {
    for (let i = 0; i < nodes.length * maxRooms; i++) {
      const n = i % nodes.length;
      const p = await UdpPeer.open(clientAddress(70, i), 1 << 16);
      peers.push(p);
      const room = `cap-${i}`;
      await p.join(nodes[n]!.port, room, 'solo');
      counts[n]!++;
      pss.push(pssBytes(await nodes[n]!.roomPid(room)));
    }
    // One more, at every node: each is full.
    let refused = 0;
    for (const [n, node] of nodes.entries()) {
      const p = await UdpPeer.open(clientAddress(71, n), 1 << 16);
      peers.push(p);
      const j = await p.request({ type: 'join', id: `over-${n}`, room: `over-${n}`, nick: 'solo' }, node.port, 6_000);
      if (j['code'] === 'TOO_MANY_ROOMS') refused++;
    }
    await sleep(200);
    return {
      what: `${what}${refused === nodes.length ? '' : ` (${nodes.length - refused} node(s) took more)`}`,
      rooms: counts.reduce((a, b) => a + b, 0),
      perNode: counts.join(' / '),
      roomPssMb: mb(median(pss)),
    };
  } finally {
    for (const p of peers) p.close();
  }
}
