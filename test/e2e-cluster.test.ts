// Cluster mode end to end: three real NATS servers (JetStream, R3) and three
// real chatd nodes on loopback, clients speaking raw JSON over UDP.
// - any node serves every room: join at one node into a room another node
//   holds, leave at a third, `rooms` anywhere, `where` with a wrong token;
// - SIGKILL of the node holding a room (its supervisor and its rooms) while
//   two members chat: the room resumes on another node, `where` finds it,
//   every acknowledged message is in the history exactly once, no seq was
//   given to two events (the union of everything both members saw and a
//   full fetch), and seq continues.
import t, { type Test } from 'tap';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { skipReason, startNats } from './helpers/nats.js';
import { sigkill, waitGone } from './helpers/pids.js';
import { RawClient, type Obj } from './helpers/raw-client.js';

const LEASE_MS = 2_000;
/** The failover budget: the lease, then a few seconds (a loaded 2-core machine). */
const RESUME_BUDGET_MS = LEASE_MS + 8_000;

async function startNodes(t: Test, urls: string[], n: number, cluster: string): Promise<Chatd[]> {
  const nodes: Chatd[] = [];
  for (let i = 0; i < n; i++) {
    const node = await startChatd(t, { natsServers: urls, nodeName: `node-${i}`, clusterName: cluster, journalReplicas: 3, nodeLeaseMs: LEASE_MS, roomPoolSize: 1 });
    await node.waitLog((l) => l.event === 'listening', 30_000, 'listening');
    nodes.push(node);
  }
  return nodes;
}

/** One member speaking raw JSON, following its room across a failover as a client must (protocol section 10). */
class Chatter {
  /** seq -> what it was (an event's identity), from everything this member received. */
  readonly seen = new Map<number, string>();
  readonly acked = new Map<string, number>();
  roomPort: number;
  private n = 0;
  private pending: { id: string; sentAt: number } | undefined;
  private lastHeard = Date.now();
  moves = 0;
  conflicts: string[] = [];

  constructor(
    readonly c: RawClient,
    readonly name: string,
    readonly room: string,
    readonly token: string,
    port: number,
  ) {
    this.roomPort = port;
  }

  /** Takes every event received so far into `seen`, checking that no seq ever means two events. */
  absorb(): void {
    for (const o of this.c.received.splice(0)) {
      if (o.fromPort === this.roomPort) this.lastHeard = Date.now();
      if (o['type'] === 'msg' || o['type'] === 'presence') this.note(o);
      if (o['type'] === 'msg' && String(o['id']).startsWith(this.name) && typeof o['seq'] === 'number') {
        this.acked.set(String(o['id']), o['seq']);
        if (this.pending?.id === o['id']) this.pending = undefined;
      }
      if (o['type'] === 'here' && o['port'] !== this.roomPort) {
        this.roomPort = o['port'] as number;
        this.moves++;
        this.lastHeard = Date.now();
        this.c.send({ type: 'hb', token: this.token }, this.roomPort);
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

  /** One step: send the next say (or resend the pending one, same id), and ask `where` when the room is silent. */
  step(controlPorts: number[]): void {
    this.absorb();
    const now = Date.now();
    if (!this.pending) {
      this.pending = { id: `${this.name}-${++this.n}`, sentAt: 0 };
    }
    if (now - this.pending.sentAt > 300) {
      this.c.send({ type: 'say', token: this.token, id: this.pending.id, text: `${this.pending.id} text` }, this.roomPort);
      this.pending.sentAt = now;
    }
    if (now - this.lastHeard > 600) {
      const port = controlPorts[Math.floor(Math.random() * controlPorts.length)]!;
      this.c.send({ type: 'where', id: `w-${this.name}-${now}`, room: this.room, token: this.token }, port);
    }
  }
}

const reason = skipReason();
if (reason) {
  t.plan(0, `cluster tests skipped: ${reason}`);
} else {
  t.test('three nodes serve one room space; a killed node\'s room resumes elsewhere with nothing lost', { timeout: 120_000 }, async (t) => {
    const nats = await startNats(t, { servers: 3, jetstream: true });
    const nodes = await startNodes(t, nats.urls, 3, `e2e${process.pid}`);
    const [a, b, c] = nodes as [Chatd, Chatd, Chatd];

    // ---- any node serves every room ----
    const ann = await RawClient.open(t);
    const bob = await RawClient.open(t);
    const cat = await RawClient.open(t);
    const jAnn = await ann.request({ type: 'join', id: 'j-ann', room: 'lobby', nick: 'ann' }, a.port);
    t.equal(jAnn['type'], 'joined', 'the room is created at node a');
    t.equal(jAnn['host'], '127.0.0.1', 'joined names the room host');
    ann.send({ type: 'hb', token: jAnn['token'] }, jAnn['port'] as number);
    await ann.next((o) => o['type'] === 'hb', 10_000, 'hb');
    await a.waitLog((l) => l.event === 'room_started' && l['room'] === 'lobby', 10_000, 'room on node a');

    const jBob = await bob.request({ type: 'join', id: 'j-bob', room: 'lobby', nick: 'bob' }, b.port);
    t.equal(jBob['type'], 'joined', 'a join at node b into the room node a holds');
    t.equal(jBob['port'], jAnn['port'], 'the same room endpoint');
    t.equal(jBob['members'], 2);
    t.notOk(b.logs.some((l) => l.event === 'room_started'), 'node b started no room of its own');
    bob.send({ type: 'hb', token: jBob['token'] }, jBob['port'] as number);
    await bob.next((o) => o['type'] === 'hb', 10_000, 'hb');
    const again = await bob.request({ type: 'join', id: 'j-bob', room: 'lobby', nick: 'bob' }, b.port);
    t.same(again, { ...jBob, fromPort: again.fromPort }, 'a retry at the same control endpoint gets the same joined');

    const jCat = await cat.request({ type: 'join', id: 'j-cat', room: 'lobby', nick: 'cat' }, c.port);
    t.equal(jCat['type'], 'joined', 'a join at node c');
    const left = await cat.request({ type: 'leave', id: 'l-cat', room: 'lobby', token: jCat['token'] }, c.port);
    t.same({ type: left['type'], id: left['id'] }, { type: 'left', id: 'l-cat' }, 'leave at node c of the room node a holds');

    // Counts of rooms on other nodes reach the directory within a second (protocol section 10).
    for (const node of nodes) {
      let r: Obj = {};
      for (let i = 0; i < 50; i++) {
        r = await cat.request({ type: 'rooms', id: `r-${node.port}-${i}`, pad: 'x'.repeat(100) }, node.port);
        if (JSON.stringify(r['rooms']) === JSON.stringify([{ room: 'lobby', members: 2 }])) break;
        await new Promise((res) => setTimeout(res, 100));
      }
      t.same(r['rooms'], [{ room: 'lobby', members: 2 }], `rooms at port ${node.port} lists the whole room space`);
    }
    const wrong = await cat.request({ type: 'where', id: 'w-wrong', room: 'lobby', token: 'x'.repeat(24) }, c.port);
    t.equal(wrong['code'], 'NOT_MEMBER', 'where with a wrong token');
    const stolen = await cat.request({ type: 'where', id: 'w-stolen', room: 'lobby', token: jBob['token'] }, c.port);
    t.equal(stolen['code'], 'NOT_MEMBER', "where with bob's token from another endpoint");
    const here = await bob.request({ type: 'where', id: 'w-bob', room: 'lobby', token: jBob['token'] }, c.port);
    t.same({ type: here['type'], host: here['host'], port: here['port'] }, { type: 'here', host: '127.0.0.1', port: jAnn['port'] }, 'where at node c');

    // ---- SIGKILL the node holding the room while two members chat ----
    const chatters = [new Chatter(ann, 'ann', 'lobby', jAnn['token'] as string, jAnn['port'] as number), new Chatter(bob, 'bob', 'lobby', jBob['token'] as string, jBob['port'] as number)];
    const alive = [b.port, c.port];
    const until = async (what: string, ms: number, done: () => boolean) => {
      const deadline = Date.now() + ms;
      while (!done()) {
        if (Date.now() > deadline) throw new Error(`timed out: ${what}; acked ${chatters.map((x) => x.acked.size).join('/')}`);
        for (const x of chatters) x.step(alive);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    await until('20 acks each before the kill', 20_000, () => chatters.every((x) => x.acked.size >= 20));
    const beforeKill = Math.max(...chatters.flatMap((x) => [...x.acked.values()]));
    const killedAt = Date.now();
    const pids = [a.pid, ...a.roomPids()];
    for (const p of pids) sigkill(p);
    for (const p of pids) await waitGone(p, 5_000);
    // Acks the dead node sent before it died are in; what comes after can only come from the new holder.
    await new Promise((r) => setTimeout(r, 50));
    for (const x of chatters) x.absorb();
    const counts = chatters.map((x) => x.acked.size);
    await until('acks after the failover', RESUME_BUDGET_MS, () => chatters.every((x, i) => x.acked.size > counts[i]!));
    const resumeMs = Date.now() - killedAt;
    t.comment(`resumed ${resumeMs} ms after the kill`);
    t.ok(resumeMs < RESUME_BUDGET_MS, `chatting again within the lease plus a few seconds (${resumeMs} ms)`);
    await until('20 more acks each', 20_000, () => chatters.every((x, i) => x.acked.size >= counts[i]! + 20));
    t.ok(chatters.every((x) => x.moves >= 1), 'both members moved to the new endpoint after where');
    const newPort = chatters[0]!.roomPort;
    t.not(newPort, jAnn['port'], 'the room has a new endpoint');
    t.ok(b.logs.some((l) => l.event === 'room_claimed') || c.logs.some((l) => l.event === 'room_claimed'), 'a live node claimed the room');

    // ---- nothing lost, nothing doubled ----
    const top = Math.max(...chatters.flatMap((x) => [...x.acked.values()]));
    t.ok(top > beforeKill, 'seq continues after the failover');
    for (const x of chatters) {
      x.c.send({ type: 'fetch', token: x.token, from: 1, to: top }, x.roomPort);
      await x.c.next((o) => o['type'] === 'fetched', 10_000, 'fetched');
      x.absorb();
    }
    const union = new Map<number, string>();
    const conflicts = chatters.flatMap((x) => x.conflicts);
    for (const x of chatters) {
      for (const [seq, key] of x.seen) {
        const had = union.get(seq);
        if (had !== undefined && had !== key) conflicts.push(`seq ${seq}: ${had} and ${key}`);
        union.set(seq, key);
      }
    }
    t.same(conflicts, [], 'no seq was given to two different events');
    const missing: number[] = [];
    for (let s = 1; s <= top; s++) if (!union.has(s)) missing.push(s);
    t.same(missing, [], 'the full history 1..top is held: no hole');
    for (const x of chatters) {
      for (const [id, seq] of x.acked) {
        const holders = [...union.entries()].filter(([, k]) => k.startsWith('msg:') && k.includes(`:${id}:`));
        t.equal(holders.length, 1, `${id} is in the history exactly once`);
        t.equal(holders[0]?.[0], seq, `${id} at the seq it was acknowledged with`);
      }
    }
  });
}
