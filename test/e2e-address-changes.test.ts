// Address changes end to end on loopback (protocol "Address changes"): a
// client whose source port changes (a second socket plays the NAT's new
// mapping) is challenged, answers, and carries on there; the control
// endpoint takes its token from the new endpoint; a restarted room keeps it
// where it moved; and the library client follows a new port by itself.
// The network-namespace beds (netns-nat*) do the same through real NATs.
import t from 'tap';
import { ChatClient, type MsgEvent } from '../client/chat-client.js';
import type { ClientTransport, RemoteInfo } from '../client/transport.js';
import { UdpTransport } from '../client/transport.js';
import { startChatd } from './helpers/chatd.js';
import { waitGone } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';

t.test('a member that writes from a new port is challenged, moves there, and is served there', async (t) => {
  const d = await startChatd(t, { heartbeatMs: 1_000, heartbeatMisses: 3 });
  const old = await RawClient.open(t);
  const other = await RawClient.open(t);
  const me = await old.join(d.port, 'nat', 'roamer');
  await other.join(d.port, 'nat', 'stay');
  const moved = await RawClient.open(t); // the same client, as the NAT now maps it

  moved.send({ type: 'say', token: me.token, id: 's1', text: 'lost in the move' }, me.port);
  const challenge = await moved.next((o) => o['type'] === 'challenge', 5_000, 'challenge');
  t.match(challenge, { room: 'nat', nonce: String });
  moved.send({ type: 'hb', token: me.token, nonce: challenge['nonce'] }, me.port);
  await moved.next((o) => o['type'] === 'hb' && o['room'] === 'nat', 5_000, 'hb reply at the new port');
  const line = await d.waitLog((l) => l.event === 'member_moved', 5_000, 'member_moved');
  t.match(line, { member: me.member, from: `127.0.0.1:${old.port}`, to: `127.0.0.1:${moved.port}` });

  // The challenged say was not acted on; a new one is, and both members hear it once.
  const ack = await moved.request({ type: 'say', token: me.token, id: 's2', text: 'from the new port' }, me.port, 5_000);
  t.match(ack, { type: 'msg', text: 'from the new port' });
  const heard = await other.next((o) => o['type'] === 'msg', 5_000, 'msg at the other member');
  t.equal(heard['text'], 'from the new port', 'the other member hears the moved member; the challenged say was never sequenced');
  t.notOk(other.received.some((o) => o['type'] === 'presence' && o['event'] === 'evict'), 'nobody was evicted');

  // The old endpoint is refused now (challenged, not obeyed).
  old.send({ type: 'say', token: me.token, id: 's3', text: 'from the old port' }, me.port);
  await old.next((o) => o['type'] === 'challenge', 5_000, 'challenge at the old port');

  // A restarted room restores the member where it moved: no challenge needed there.
  const pid = await d.roomPid('nat');
  process.kill(pid, 'SIGKILL');
  t.ok(await waitGone(pid), 'room process gone');
  await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'nat' && (l['incarnation'] as number) >= 2, 30_000, 'restart');
  const after = await moved.request({ type: 'say', token: me.token, id: 's4', text: 'after the restart' }, me.port, 10_000);
  t.match(after, { type: 'msg', text: 'after the restart' }, 'served at the new port after a restart');

  // The control endpoint takes the token from the endpoint it moved to.
  const left = await moved.request({ type: 'leave', id: 'bye', room: 'nat', token: me.token }, d.port, 10_000);
  t.same(left, { type: 'left', id: 'bye', room: 'nat', fromPort: d.port });
  const presence = await other.next((o) => o['type'] === 'presence' && o['event'] === 'leave', 10_000, 'presence leave');
  t.equal(presence['member'], me.member);
});

/** A client transport whose socket can be swapped for a new one, as a NAT rebinding looks from the server. */
class RebindingTransport implements ClientTransport {
  private current: UdpTransport;
  private handler: ((buf: Buffer, from: RemoteInfo) => void) | undefined;
  constructor(private readonly host: string) {
    this.current = new UdpTransport(host);
  }
  send(buf: Buffer, port: number, host: string): void {
    this.current.send(buf, port, host);
  }
  onMessage(fn: (buf: Buffer, from: RemoteInfo) => void): void {
    this.handler = fn;
    this.current.onMessage(fn);
  }
  address(): RemoteInfo {
    return this.current.address();
  }
  async ready(): Promise<void> {
    await this.current.ready?.();
  }
  /** New source port from now on; the old socket is closed, as a NAT forgets the old mapping. */
  async rebind(): Promise<void> {
    const old = this.current;
    const next = new UdpTransport(this.host);
    if (this.handler) next.onMessage(this.handler);
    await next.ready?.();
    this.current = next;
    await old.close();
  }
  async close(): Promise<void> {
    await this.current.close();
  }
}

t.test('the library client follows a new source port by itself: nothing lost, nobody evicted', async (t) => {
  const d = await startChatd(t, { heartbeatMs: 500, heartbeatMisses: 3 });
  const transport = new RebindingTransport('127.0.0.1');
  const roamer = new ChatClient({ host: '127.0.0.1', port: d.port, transport });
  const stay = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => Promise.all([roamer.close(), stay.close()]));
  await roamer.join('roam', 'roamer');
  await stay.join('roam', 'stay');
  const got: string[] = [];
  stay.on('message', (m: MsgEvent) => got.push(m.text));
  let evicted = 0;
  stay.on('presence', (p) => (evicted += p.event === 'evict' ? 1 : 0));
  const rebinds = 3;
  const perRound = 5;
  for (let round = 0; round < rebinds; round++) {
    for (let i = 0; i < perRound; i++) await roamer.say('roam', `r${round}-${i}`);
    await transport.rebind();
    await d.waitLog((l) => l.event === 'member_moved' && (d.logs.filter((x) => x.event === 'member_moved').length >= round + 1), 10_000, `move ${round + 1}`);
  }
  await roamer.say('roam', 'last');
  const want = [...Array.from({ length: rebinds }, (_, r) => Array.from({ length: perRound }, (_, i) => `r${r}-${i}`)).flat(), 'last'];
  const deadline = Date.now() + 10_000;
  while (got.length < want.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  t.same(got, want, 'every acknowledged message delivered once, in order');
  t.equal(evicted, 0, 'no eviction');
  t.equal(d.logs.filter((l) => l.event === 'member_moved').length, rebinds, 'one move per rebinding');
  t.notOk(d.logs.some((l) => l.event === 'member_evicted'), 'the supervisor evicted nobody');
});
