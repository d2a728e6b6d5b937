// The supervisor in memory: fake room handles (SpawnRoom), a manual clock,
// replies captured instead of sent. Join precedence, the unproven-membership
// replacement, mailbox races, the pending bound, the pool and the restart
// recovery loop run in milliseconds, without a process or a socket; the
// end-to-end tests check the same paths with real processes.
import { EventEmitter } from 'node:events';
import t from 'tap';
import { ManualClock } from '../lib/clock.js';
import { makeConfig } from '../lib/config.js';
import { endpointKey, type Endpoint } from '../lib/endpoint.js';
import { ChatError } from '../lib/errors.js';
import type { RoomReply } from '../lib/ipc.js';
import { createLogger } from '../lib/logger.js';
import { ReplyBudget } from '../lib/reply-budget.js';
import type { ControlRequest } from '../lib/wire.js';
import { SilentDrop } from '../supervisor/control-limits.js';
import { dispatchControl } from '../supervisor/control/index.js';
import type { ExitInfo } from '../supervisor/restart-policy.js';
import type { RoomHandle, RoomHandleEvents, RoomRequestMsg, StartSpec } from '../supervisor/room-handle.js';
import { Supervisor } from '../supervisor/supervisor.js';

type Obj = Record<string, unknown>;

/** A room incarnation in memory: answers like a room; the test can hold its `add` answers or kill it. */
class FakeRoom extends EventEmitter<RoomHandleEvents> implements RoomHandle {
  static nextPid = 200_000;
  readonly pid = FakeRoom.nextPid++;
  warm = true;
  spawnError: string | undefined = undefined;
  spec: StartSpec | undefined;
  members = 0;
  seq = 0;
  /** While set, `add` answers wait for it. */
  hold: Promise<void> | undefined;
  private exited = false;
  private resolveExit!: (e: ExitInfo) => void;
  private readonly exit = new Promise<ExitInfo>((r) => (this.resolveExit = r));

  constructor(readonly pooled: boolean) {
    super();
  }
  async start(spec: StartSpec): Promise<number> {
    if (this.exited) throw new ChatError('ROOM_UNAVAILABLE', 'exited');
    this.spec = spec;
    this.members = spec.members.length;
    return spec.port || 41_000 + (this.pid % 1000);
  }
  async request(msg: RoomRequestMsg): Promise<RoomReply> {
    if (this.exited) throw new ChatError('ROOM_UNAVAILABLE', 'the room process exited');
    switch (msg.type) {
      case 'add':
        await this.hold;
        if (this.exited) throw new ChatError('ROOM_UNAVAILABLE', 'the room process exited');
        return { type: 'added', rid: 1, seq: ++this.seq, members: ++this.members };
      case 'remove':
        return { type: 'removed', rid: 1, seq: ++this.seq, members: --this.members };
      case 'ping':
        return { type: 'pong', rid: 1 };
    }
  }
  grantLease(): void {}
  startProbing(): void {}
  async stop(): Promise<ExitInfo> {
    this.die({ code: 0, signal: null }, true);
    return this.exit;
  }
  kill(): void {
    this.die({ code: null, signal: 'SIGKILL' }, false);
  }
  whenExited(): Promise<ExitInfo> {
    return this.exit;
  }
  die(info: ExitInfo, expected: boolean): void {
    if (this.exited) return;
    this.exited = true;
    this.emit('exit', { ...info, expected });
    this.resolveExit(info);
  }
}

function harness(overrides: Record<string, unknown> = {}) {
  const clock = new ManualClock();
  const config = makeConfig({ dataDir: '/nonexistent/chatd-memory-test', roomPoolSize: 0, restartBackoffJitter: 0, ...overrides });
  const sent: Array<{ to: string; msg: Obj }> = [];
  const lines: Obj[] = [];
  const log = createLogger('debug', { write: (s: string) => void lines.push(JSON.parse(s) as Obj) }, { component: 'supervisor' });
  const rooms: FakeRoom[] = [];
  const record = (to: Endpoint, b: Buffer) => void sent.push({ to: endpointKey(to), msg: JSON.parse(b.toString()) as Obj });
  const sup = new Supervisor({
    config,
    log,
    clock,
    logSink: { write: () => true },
    random: () => 0.5,
    spawn: (pooled) => {
      const r = new FakeRoom(pooled);
      rooms.push(r);
      return r;
    },
    reply: {
      send: record,
      sendWithin: (to, budget, b) => {
        if (!budget.take(b.length)) return false;
        record(to, b);
        return true;
      },
    },
  });
  sup.status = 'running';
  /** Runs one control request from port `port` to completion; an error comes back as the reply would. */
  const request = async (port: number, req: ControlRequest): Promise<Obj | 'dropped'> => {
    const from = { address: '10.0.0.1', port, via: 0 };
    const ctx = { from, local: undefined, endpoint: endpointKey(from), budget: new ReplyBudget(1_000, false), bytes: 1_000, reqId: req.id };
    const before = sent.length;
    try {
      await dispatchControl(sup, req, ctx);
    } catch (err) {
      if (err instanceof SilentDrop) return 'dropped';
      if (err instanceof ChatError) return { type: 'error', code: err.code, message: err.message };
      throw err;
    }
    return sent.slice(before).find((s) => s.to === ctx.endpoint)?.msg ?? 'dropped';
  };
  const join = (port: number, room: string, nick: string, extra: Obj = {}) =>
    request(port, { type: 'join', id: `j-${port}-${room}-${nick}-${extra['key'] ?? ''}`, room, nick, ...extra } as ControlRequest);
  const settle = async () => {
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
  };
  return { sup, clock, sent, lines, rooms, request, join, settle, events: (e: string) => lines.filter((l) => l['event'] === e) };
}

t.test('join precedence: each refusal in the order the contract gives', async (t) => {
  const h = harness({ maxMembersPerRoom: 2, maxRoomsPerEndpoint: 1 });
  t.match(await h.join(1, 'bad name!', 'ann'), { code: 'BAD_ROOM_NAME' });
  t.match(await h.join(1, 'lobby', ' '), { code: 'BAD_NICK' });
  t.match(await h.join(1, 'lobby', 'ann', { key: 'k' }), { type: 'joined', members: 1 });
  const lobby = h.sup.registry.get('lobby')!;
  h.sup.registry.markProven(lobby.atEndpoint(endpointKey({ address: '10.0.0.1', port: 1 }))!);
  t.match(await h.join(1, 'lobby', 'other', { key: 'k' }), { code: 'ALREADY_JOINED' }, 'a proven membership is defended');
  t.match(await h.join(2, 'lobby', 'ANN', { key: 'wrong' }), { code: 'BAD_KEY' }, 'BAD_KEY before NICK_TAKEN');
  t.match(await h.join(2, 'lobby', 'ANN', { key: 'k' }), { code: 'NICK_TAKEN' }, 'nicks compare case-insensitively');
  t.match(await h.join(2, 'lobby', 'bob', { key: 'k' }), { type: 'joined', members: 2 });
  t.match(await h.join(3, 'lobby', 'cid', { key: 'k' }), { code: 'ROOM_FULL' });
  t.match(await h.join(1, 'second', 'ann'), { code: 'TOO_MANY_ROOMS', message: /at most 1 rooms/ }, 'per endpoint');
  const shut = harness();
  shut.sup.status = 'stopping';
  t.match(await shut.join(1, 'lobby', 'ann'), { code: 'SHUTTING_DOWN' });
});

t.test('an unproven membership is replaced by a new join from its endpoint; the registry counts stay right', async (t) => {
  const h = harness();
  const first = (await h.join(7, 'lobby', 'ann')) as Obj;
  t.equal(first['type'], 'joined');
  const again = (await h.request(7, { type: 'join', id: 'second-try', room: 'lobby', nick: 'ann' })) as Obj;
  t.match(again, { type: 'joined' });
  t.not(again['member'], first['member'], 'a new membership');
  const lobby = h.sup.registry.get('lobby')!;
  t.same([...lobby.members.keys()], [again['member']], 'the old one is gone');
  t.equal(h.sup.registry.roomsOf('10.0.0.1:7'), 1, 'the endpoint is counted once');
  t.match(h.events('member_left'), [{ member: first['member'], via: 'replaced' }]);
});

t.test('a join queued behind the deletion of its room creates the room afresh', async (t) => {
  const h = harness();
  const joined = (await h.join(1, 'lobby', 'ann')) as Obj;
  const old = h.sup.registry.get('lobby')!;
  // The last member leaves; a join arrives while the deletion is in the mailbox.
  const leaving = h.request(1, { type: 'leave', id: 'bye', room: 'lobby', token: joined['token'] as string });
  const joining = h.join(2, 'lobby', 'bob');
  t.match(await leaving, { type: 'left' });
  const j = (await joining) as Obj;
  t.match(j, { type: 'joined', members: 1 });
  const now = h.sup.registry.get('lobby')!;
  t.not(now, old, 'a new room entry');
  t.equal(old.state, 'gone');
  t.equal(now.state, 'running');
  t.equal(h.rooms.length, 2, 'two room processes: the deleted one and the new one');
});

t.test('joins beyond maxPendingPerEndpoint from one endpoint are dropped while the first is in progress', async (t) => {
  const h = harness({ maxPendingPerEndpoint: 1 });
  await h.join(9, 'warm', 'x'); // a room exists whose add we can hold
  const room = h.rooms[0]!;
  let release!: () => void;
  room.hold = new Promise((r) => (release = r));
  const slow = h.join(1, 'warm', 'ann');
  await h.settle();
  t.equal(await h.join(1, 'other', 'ann'), 'dropped', 'a second join of the endpoint while one is in progress');
  release();
  t.match(await slow, { type: 'joined' });
  t.match(await h.join(1, 'other', 'ann'), { type: 'joined' }, 'and accepted once the first is done');
});

t.test('a new room takes the pooled process, and the pool refills after its delay', async (t) => {
  const h = harness({ roomPoolSize: 1 });
  h.sup.lifecycle.fillPool();
  t.equal(h.rooms.length, 1);
  t.ok(h.rooms[0]!.pooled);
  await h.join(1, 'lobby', 'ann');
  t.equal(h.rooms[0]!.spec?.room, 'lobby', 'the pooled process runs the room');
  t.equal(h.rooms.length, 1, 'no refill at once (it would land on the join\'s path)');
  h.clock.advance(50);
  t.equal(h.rooms.length, 2, 'refilled after the delay');
  t.ok(h.rooms[1]!.pooled);
});

t.test('restart recovery: a crashed room restarts on its port with its members, then is given up past the intensity', async (t) => {
  const h = harness({ restartMaxRestarts: 2, restartPeriodMs: 60_000, restartBackoffInitialMs: 100, restartBackoffFactor: 2 });
  const joined = (await h.join(1, 'lobby', 'ann')) as Obj;
  const lobby = h.sup.registry.get('lobby')!;
  h.sup.registry.markProven(lobby.members.get(joined['member'] as string)!);
  const port = lobby.port;
  h.rooms[0]!.kill();
  await h.settle();
  t.equal(lobby.state, 'restarting');
  t.equal(h.rooms.length, 1, 'waits out the backoff');
  h.clock.advance(100);
  await h.settle();
  t.equal(h.rooms.length, 2, 'restarted after 100 ms');
  t.match(h.rooms[1]!.spec, { room: 'lobby', port, incarnation: 2, members: [{ member: joined['member'], proven: true }] });
  t.equal(lobby.state, 'running');
  t.ok(h.rooms[1]!.spec!.seqCeiling >= 1, 'the new incarnation learns the seq ceiling');
  h.rooms[1]!.kill();
  await h.settle();
  h.clock.advance(200);
  await h.settle();
  t.equal(h.rooms.length, 3, 'second restart after 200 ms');
  h.rooms[2]!.kill();
  await h.settle();
  t.match(h.events('room_exit').map((l) => l['decision']), ['restart', 'restart', 'give-up']);
  t.same(h.sent.filter((s) => s.msg['type'] === 'closed'), [{ to: '10.0.0.1:1', msg: { type: 'closed', room: 'lobby', reason: 'crashed' } }], 'the proven member hears it');
  t.equal(h.sup.registry.get('lobby'), undefined, 'out of the registry');
  t.equal(lobby.state, 'gone');
  t.equal(h.sup.registry.roomsOf('10.0.0.1:1'), 0);
});

t.test('a one-port room range: the room takes it, a second room is refused cleanly, the port is reused once free', async (t) => {
  const h = harness({ roomPortMin: 40_123, roomPortMax: 40_123 });
  const a = (await h.join(1, 'first', 'ann')) as Obj;
  t.match(a, { type: 'joined', port: 40_123 });
  t.match(await h.join(2, 'second', 'bob'), { type: 'error', code: 'ROOM_UNAVAILABLE', message: /no free room port/ });
  t.equal(h.sup.registry.get('second'), undefined, 'nothing left of the refused room');
  t.match(await h.request(1, { type: 'leave', id: 'bye', room: 'first', token: a['token'] as string }), { type: 'left' });
  t.match(await h.join(2, 'second', 'bob'), { type: 'joined', port: 40_123 }, 'the port is free again');
});
