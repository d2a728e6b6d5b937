// Faults end to end: silent clients, killed rooms, signals to chatd.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { isAlive, waitGone } from './helpers/pids.js';
import { RawClient } from './helpers/raw-client.js';

t.test('a client that stops sending heartbeats is evicted and the others get presence evict', async (t) => {
  const d = await startChatd(t, { heartbeatMs: 200, heartbeatMisses: 2 });
  const live = await RawClient.open(t);
  const dead = await RawClient.open(t);
  const ml = await live.join(d.port, 'hb', 'live');
  const md = await dead.join(d.port, 'hb', 'dead');
  const joinedAt = Date.now();
  // keep the live one alive for the whole test, bounded in count
  let beats = 0;
  const timer = setInterval(() => {
    if (beats++ < 100) live.send({ type: 'hb', token: ml.token }, ml.port);
  }, 100);
  t.teardown(() => clearInterval(timer));
  const ev = await live.next((o) => o['type'] === 'presence' && o['event'] === 'evict', 5_000, 'presence evict');
  const silentMs = Date.now() - joinedAt;
  t.match(ev, { room: 'hb', member: md.member, nick: 'dead' });
  t.ok(silentMs >= 400, `not evicted before heartbeatMs x misses (${silentMs} ms)`);
  await d.waitLog((l) => l.event === 'member_evicted' && l['component'] === 'supervisor' && l['member'] === md.member);
  dead.send({ type: 'hb', token: md.token }, md.port);
  t.match(await dead.next((o) => o['type'] === 'error'), { code: 'NOT_MEMBER' }, 'the evicted token is dead');
  const who = await live.request({ type: 'who', token: ml.token, id: 'w' }, ml.port);
  t.same(who['members'], [{ member: ml.member, nick: 'live' }], 'the roster no longer lists it');
});

t.test('a room process killed with SIGKILL comes back on the same port and members keep chatting', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'phoenix', 'ann');
  const mb = await b.join(d.port, 'phoenix', 'bob');
  a.send({ type: 'say', token: ma.token, id: 'before', text: 'before the crash' }, ma.port);
  const before = await b.next((o) => o['type'] === 'msg' && o['id'] === 'before');
  const first = await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'phoenix');
  process.kill(first['roomPid'] as number, 'SIGKILL');
  const second = await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'phoenix' && (l['incarnation'] as number) >= 2, 30_000, 'restart');
  t.not(second['roomPid'], first['roomPid'], 'a new process');
  t.equal(second['port'], ma.port, 'on the same port');
  t.ok(await waitGone(first['roomPid'] as number), 'the old one is gone');
  t.match(d.logs.find((l) => l.event === 'room_exit'), { room: 'phoenix', signal: 'SIGKILL', decision: 'restart' });
  // Same tokens, no re-join: the restored members just keep talking.
  a.send({ type: 'say', token: ma.token, id: 'after', text: 'after the crash' }, ma.port);
  const after = await b.next((o) => o['type'] === 'msg' && o['id'] === 'after', 5_000, 'msg after restart');
  t.equal(after['seq'], (before['seq'] as number) + 1, 'seq continues with no hole and no repeat');
  b.send({ type: 'say', token: mb.token, id: 'after-b', text: 'me too' }, mb.port);
  t.match(await a.next((o) => o['type'] === 'msg' && o['id'] === 'after-b'), { seq: (before['seq'] as number) + 2 });
  b.send({ type: 'fetch', token: mb.token, from: 1, to: 100 }, mb.port);
  const fetched = await b.next((o) => o['type'] === 'fetched');
  t.match(fetched, { from: 1, to: (before['seq'] as number) + 2 }, 'history survived the restart');
});

t.test('SIGTERM stops chatd: members get closed, no room process remains, exit 0', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  await a.join(d.port, 'r1', 'ann');
  await a.join(d.port, 'r2', 'ann');
  const pids = [await d.roomPid('r1'), await d.roomPid('r2')];
  d.proc.kill('SIGTERM');
  const closed1 = await a.next((o) => o['type'] === 'closed' && o['room'] === 'r1');
  const closed2 = await a.next((o) => o['type'] === 'closed' && o['room'] === 'r2');
  t.equal(closed1['reason'], 'shutdown');
  t.equal(closed2['reason'], 'shutdown');
  const exit = await d.exited;
  t.same(exit, { code: 0, signal: null }, 'chatd exits 0');
  for (const pid of pids) t.notOk(isAlive(pid), `room ${pid} is gone`);
});

t.test('SIGKILL of chatd leaves no room process behind', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  await a.join(d.port, 'orphan1', 'ann');
  await a.join(d.port, 'orphan2', 'ann');
  const pids = [await d.roomPid('orphan1'), await d.roomPid('orphan2')];
  d.proc.kill('SIGKILL');
  await d.exited;
  for (const pid of pids) t.ok(await waitGone(pid, 5_000), `room ${pid} exits when its supervisor dies`);
});

t.test('a second signal forces exit with code 1 and kills the rooms', async (t) => {
  // A long shutdown timeout: a room that ignores shutdown would hold the first signal.
  const d = await startChatd(t, { shutdownTimeoutMs: 60_000 });
  const a = await RawClient.open(t);
  await a.join(d.port, 'stuck', 'ann');
  const pid = await d.roomPid('stuck');
  process.kill(pid, 'SIGSTOP'); // the room cannot answer the shutdown request
  t.teardown(() => {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  });
  d.proc.kill('SIGTERM');
  await d.waitLog((l) => l.event === 'shutting_down');
  d.proc.kill('SIGTERM');
  t.same(await d.exited, { code: 1, signal: null });
  t.ok(await waitGone(pid, 5_000), 'the stopped room was killed');
});

t.test('a room-endpoint leave retried after a restart still gets left', async (t) => {
  const d = await startChatd(t);
  const a = await RawClient.open(t);
  const b = await RawClient.open(t);
  const ma = await a.join(d.port, 'again', 'ann');
  await b.join(d.port, 'again', 'bob');
  t.match(await a.request({ type: 'leave', token: ma.token, id: 'L1' }, ma.port), { type: 'left' });
  await d.waitLog((l) => l.event === 'member_left' && l['member'] === ma.member);
  process.kill(await d.roomPid('again'), 'SIGKILL');
  await d.waitLog((l) => l.event === 'room_started' && l['room'] === 'again' && (l['incarnation'] as number) >= 2, 30_000, 'restart');
  t.same(await a.request({ type: 'leave', token: ma.token, id: 'L1' }, ma.port), { type: 'left', id: 'L1', room: 'again', fromPort: ma.port });
});
