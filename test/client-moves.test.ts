// ChatClient follows a room that moves to another node (protocol "Several
// nodes (cluster mode)"), over real UDP on loopback, against a fake service
// made of bare sockets (test/helpers/fake-service.ts): two control endpoints (the first never
// answers: the client moves on to the second), room endpoint A on
// 127.0.0.1 and room endpoint B on 127.0.0.2 with the same port number (so
// only the address tells them apart). The room goes silent at A; `where` is
// answered ROOM_UNAVAILABLE twice, then `here` B; the client sends hb to B,
// fetches what it missed there, resends its waiting say with the same id,
// and delivers every event once, in order. Also: `where` answered
// NOT_MEMBER is a lost membership; `here` naming the endpoint in use moves
// nothing. Every wait awaits an event or a datagram, within a bound.
import t, { type Test } from 'tap';
import { ChatClient, type ChatClientOptions, type ChatClientEvents, type MsgEvent, type PresenceEvent } from '../client/chat-client.js';
import { beforeUs, FakeEndpoint, FakeRoom, joined, MEMBER, msg, ROOM, TOKEN, WAIT_MS, type Obj } from './helpers/fake-service.js';

/** Resolves with the first `event` whose args match pred, within WAIT_MS. */
function eventually<K extends keyof ChatClientEvents>(c: ChatClient, event: K, pred: (...a: ChatClientEvents[K]) => boolean = () => true): Promise<ChatClientEvents[K]> {
  return new Promise((resolve, reject) => {
    const listener = (...a: ChatClientEvents[K]) => {
      if (!pred(...a)) return;
      clearTimeout(timer);
      c.off(event, listener as never);
      resolve(a);
    };
    const timer = setTimeout(() => {
      c.off(event, listener as never);
      reject(new Error(`timed out waiting for '${String(event)}'`));
    }, WAIT_MS);
    c.on(event, listener as never);
  });
}

/** A client that records what it delivers, closed at teardown. */
function client(t: Test, opts: Partial<ChatClientOptions> & Pick<ChatClientOptions, 'servers'>) {
  const c = new ChatClient({ retryInitialMs: 50, maxAttempts: 6, random: () => 0.5, ...opts });
  t.teardown(() => c.close({ leave: false }));
  const delivered: Array<MsgEvent | PresenceEvent> = [];
  const kinds: string[] = [];
  c.on('message', (m) => delivered.push(m));
  c.on('presence', (p) => delivered.push(p));
  for (const k of ['moved', 'unresponsive', 'responsive', 'rejoining', 'rejoined', 'evicted', 'membership-lost', 'rejoin-failed', 'closed', 'gap'] as const) {
    c.on(k, () => kinds.push(k));
  }
  const seqsUpTo = (seq: number) => eventually(c, 'message', () => delivered.at(-1)?.seq === seq);
  return { c, delivered, kinds, seqsUpTo };
}

t.test('a room that moves to another node: followed, nothing missed, nothing twice, the waiting say resent with its id', async (t) => {
  const deaf = await FakeEndpoint.open(t, '127.0.0.1');
  const control = await FakeEndpoint.open(t, '127.0.0.1');
  const a = new FakeRoom(await FakeEndpoint.open(t, '127.0.0.1'), beforeUs());
  // The same port number on another address: only (address, port) tells B's datagrams from A's.
  const b = new FakeRoom(await FakeEndpoint.open(t, '127.0.0.2', a.ep.port), beforeUs());
  const whereAnswers: Obj[] = [
    { type: 'error', code: 'ROOM_UNAVAILABLE', message: 'the room is between nodes: ask again' },
    { type: 'error', code: 'ROOM_UNAVAILABLE', message: 'the room is between nodes: ask again' },
  ];
  control.handler = (o, from) => {
    if (o['type'] === 'join') return control.send(from, joined(o['id'], a.ep, 3));
    if (o['type'] === 'where' && o['token'] === TOKEN) {
      const answer = whereAnswers.shift() ?? { type: 'here', room: ROOM, host: b.ep.host, port: b.ep.port };
      return control.send(from, { ...answer, id: o['id'] });
    }
  };
  const { c, delivered, kinds, seqsUpTo } = client(t, {
    servers: [
      { host: '127.0.0.1', port: deaf.port },
      { host: '127.0.0.1', port: control.port },
    ],
  });

  const info = await c.join(ROOM, 'me');
  t.match(info, { host: '127.0.0.1', port: a.ep.port, seq: 3 });
  const unanswered = deaf.of('join');
  t.ok(unanswered.length >= 1 && unanswered.every((j) => j['id'] === unanswered[0]!['id']), 'the first control endpoint got the join, every send with one id');
  t.not(control.of('join')[0]!['id'], unanswered[0]!['id'], 'the second one got a join of its own');

  // Events flow from A.
  await a.ep.next((o) => o['type'] === 'hb', 'the first hb at A');
  const upTo5 = seqsUpTo(5);
  a.push(msg(4));
  a.push(msg(5));
  await upTo5;

  // A's node dies: A is silent. Meanwhile the room (resumed on B's node, same history) sequenced our say as 6 (its echo was lost), and carol joined.
  a.silent = true;
  const say = c.say(ROOM, 'anyone there?');
  const said = await a.ep.next((o) => o['type'] === 'say', 'the say at A');
  b.history.push(msg(4), msg(5), msg(6, { member: MEMBER, nick: 'me', text: 'anyone there?', id: said['id'] }), {
    type: 'presence',
    room: ROOM,
    seq: 7,
    event: 'join',
    member: 'carol00001',
    nick: 'carol',
  });
  const [moved] = await eventually(c, 'moved');
  t.same(moved, { room: ROOM, host: '127.0.0.2', port: b.ep.port, from: { host: '127.0.0.1', port: a.ep.port } });
  t.equal(control.of('where').length, 3, 'ROOM_UNAVAILABLE twice, then here');
  t.same(deaf.of('where'), [], 'the where went to the control endpoint that answers');
  t.ok(control.of('where').every((w) => w['room'] === ROOM && w['token'] === TOKEN));

  // At B: hb at once, the missed range fetched, the say resent with its id (answered with its original msg).
  const hb = await b.ep.next((o) => o['type'] === 'hb', 'the first hb at B');
  t.same(hb, { type: 'hb', token: TOKEN });
  await b.ep.next((o) => o['type'] === 'fetch' && o['from'] === 6, 'the fetch of the missed range at B');
  const resent = await b.ep.next((o) => o['type'] === 'say', 'the say resent at B');
  t.same(resent, { type: 'say', id: said['id'], text: 'anyone there?', token: TOKEN });
  t.match(await say, { seq: 6, id: said['id'], member: MEMBER });
  await eventually(c, 'presence', (p) => p.seq === 7);
  t.same(delivered.map((e) => e.seq), [4, 5, 6, 7], 'every event once, in order');

  // Chatting goes on at B; A, back from the dead, is not the room's endpoint any more.
  const next = c.say(ROOM, 'back');
  t.match(await next, { seq: 8, text: 'back' });
  a.silent = false;
  a.push(msg(9, { text: 'from the old node' }));
  const upTo10 = seqsUpTo(10);
  b.push(msg(9));
  b.push(msg(10));
  await upTo10;
  t.same(delivered.map((e) => e.seq), [4, 5, 6, 7, 8, 9, 10]);
  t.notOk(delivered.some((e) => e.type === 'msg' && e.text === 'from the old node'), 'nothing from the old endpoint');
  t.same(kinds.filter((k) => k === 'moved'), ['moved'], "'moved' once");
  t.notOk(kinds.some((k) => k.startsWith('rejoin') || k === 'evicted' || k === 'gap'), `no loss reported (${kinds.join(', ')})`);
});

t.test('where answered NOT_MEMBER: the membership is lost, and with autoRejoin joined again', async (t) => {
  const control = await FakeEndpoint.open(t, '127.0.0.1');
  const a = new FakeRoom(await FakeEndpoint.open(t, '127.0.0.1'), beforeUs());
  const a2 = await FakeEndpoint.open(t, '127.0.0.1'); // the room created afresh: only its first hb is looked at
  const TOKEN2 = 'tok_ZYXWVUTSRQPONMLKJIHGF';
  let joins = 0;
  control.handler = (o, from) => {
    if (o['type'] === 'join') return control.send(from, ++joins === 1 ? joined(o['id'], a.ep, 3) : joined(o['id'], a2, 1, TOKEN2));
    if (o['type'] === 'where') return control.send(from, { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room', id: o['id'] });
  };
  const { c, kinds } = client(t, { servers: [{ host: '127.0.0.1', port: control.port }], autoRejoin: true });
  await c.join(ROOM, 'me');
  await a.ep.next((o) => o['type'] === 'hb', 'the first hb');
  // A lone member evicted: its room was deleted, nobody answers at A.
  a.silent = true;
  const rejoined = eventually(c, 'rejoined');
  void c.say(ROOM, 'anyone?').catch(() => {});
  const [r] = await rejoined;
  t.same(r, { room: ROOM, seq: 1, previousSeq: 3 });
  t.same(kinds.slice(0, 2), ['rejoining', 'rejoined'], 'the lost-membership path');
  t.equal(control.of('where').length, 1);
  t.notOk(kinds.includes('moved'));
  const hb = await a2.next((o) => o['type'] === 'hb', 'the new membership\'s hb');
  t.equal(hb['token'], TOKEN2);
});

t.test('here naming the endpoint in use: nothing moves; the room answering again ends the asking', async (t) => {
  const control = await FakeEndpoint.open(t, '127.0.0.1');
  const a = new FakeRoom(await FakeEndpoint.open(t, '127.0.0.1'), beforeUs());
  control.handler = (o, from) => {
    if (o['type'] === 'join') return control.send(from, joined(o['id'], a.ep, 3));
    if (o['type'] === 'where') return control.send(from, { type: 'here', id: o['id'], room: ROOM, host: a.ep.host, port: a.ep.port });
  };
  const { c, kinds } = client(t, { servers: [{ host: '127.0.0.1', port: control.port }] });
  await c.join(ROOM, 'me');
  await a.ep.next((o) => o['type'] === 'hb', 'the first hb');
  a.silent = true; // a room restarting on its node: silent for a moment, where it was
  const say = c.say(ROOM, 'still there?');
  await control.next((o) => o['type'] === 'where', 'a where');
  await control.next((o) => o['type'] === 'where', 'a second where', control.received.findIndex((r) => r.obj['type'] === 'where') + 1);
  a.silent = false;
  t.match(await say, { seq: 4, text: 'still there?' }, 'the say is answered where it was');
  const asked = control.of('where').length;
  // Two more heartbeat rounds, answered: no more asking (one where may have been on its way).
  for (let round = 0; round < 2; round++) {
    const skip = a.ep.received.length;
    await a.ep.next((o) => o['type'] === 'hb', `hb round ${round + 1} after the room answered`, skip);
  }
  t.ok(control.of('where').length <= asked + 1, `no more wheres once the room answers (${asked} before, ${control.of('where').length} after)`);
  t.notOk(kinds.includes('moved'), 'nothing moved');
  t.same(kinds.filter((k) => k !== 'unresponsive' && k !== 'responsive'), []);
});
