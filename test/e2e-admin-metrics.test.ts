// /metrics end to end: a real chatd, real members over UDP, scrapes over
// real HTTP. The counters move with the traffic (joins, messages,
// deliveries, drops, rate limits), an eviction and a room SIGKILLed show
// as such, counts add up across a room's incarnations, and with
// metricsRoomLabels 1 the second and third rooms are summed in
// room="_other", which never goes down when one of them is deleted.
import t from 'tap';
import { adminAddress, get, parseMetrics, sample, untilMetrics, type Sample } from './helpers/admin.js';
import { startChatd } from './helpers/chatd.js';
import { RawClient, type Membership } from './helpers/raw-client.js';
import { isAlive } from './helpers/pids.js';

/** Sends hb every ms until stopped, as a client keeps its membership. */
function heartbeat(c: RawClient, m: Membership, ms: number): { stop(): void } {
  const timer = setInterval(() => c.send({ type: 'hb', token: m.token }, m.port), ms);
  return { stop: () => clearInterval(timer) };
}

const val = (s: Sample[], name: string, labels: Record<string, string> = {}) => sample(s, name, labels) ?? NaN;

t.test('counters move with real traffic, an eviction and a room SIGKILLed; counts add up across incarnations', async (t) => {
  const c = await startChatd(t, { statsIntervalMs: 100, heartbeatMs: 300, heartbeatMisses: 2, sayRatePerSec: 5, sayBurst: 8 });
  const admin = adminAddress(c.logs)!;
  t.match(admin, /^127\.0\.0\.1:\d+$/, 'the listening line names the admin listener');
  t.ok(c.logs.some((l) => l.event === 'admin_listening' && l['admin'] === admin), 'and so does a line of its own');

  const ann = await RawClient.open(t);
  const bob = await RawClient.open(t, '127.0.0.2');
  const a = await ann.join(c.port, 'lobby', 'ann');
  const b = await bob.join(c.port, 'lobby', 'bob');
  const annBeat = heartbeat(ann, a, 100);
  t.teardown(() => annBeat.stop());
  const bobBeat = heartbeat(bob, b, 100);
  t.teardown(() => bobBeat.stop());

  for (let i = 1; i <= 5; i++) ann.send({ type: 'say', token: a.token, id: `s${i}`, text: `hello ${i}` }, a.port);
  await bob.next((o) => o['type'] === 'msg' && o['id'] === 's5', 10_000, "bob gets ann's fifth message");
  ann.send('not json', a.port);
  ann.send({ type: 'hb', token: 'a-token-nobody-holds-xxxxxxx' }, a.port);
  let s = await untilMetrics(admin, (m) => val(m, 'chatd_messages_total', { room: 'lobby' }) === 5 && val(m, 'chatd_datagrams_dropped_total', { room: 'lobby', reason: 'not-member' }) === 1, 'the room to report 5 messages and the drops');
  t.equal(val(s, 'chatd_joins_total', { room: 'lobby' }), 2, 'two joins');
  t.equal(val(s, 'chatd_room_members', { room: 'lobby' }), 2, 'two members');
  t.ok(val(s, 'chatd_deliveries_total', { room: 'lobby' }) >= 10, 'every message reached both members');
  t.ok(val(s, 'chatd_datagrams_sent_total', { room: 'lobby' }) > 0 && val(s, 'chatd_sent_bytes_total', { room: 'lobby' }) > 0, 'datagrams and bytes sent');
  t.ok(val(s, 'chatd_datagrams_received_total', { room: 'lobby' }) >= 7 && val(s, 'chatd_received_bytes_total', { room: 'lobby' }) > 0, 'datagrams and bytes received');
  t.equal(val(s, 'chatd_datagrams_dropped_total', { room: 'lobby', reason: 'undecodable' }), 1, 'the garbage datagram: undecodable');
  t.ok(val(s, 'chatd_room_seq', { room: 'lobby' }) >= 7, 'seq: two joins and five messages');
  t.ok(val(s, 'chatd_journal_write_seconds_count', { room: 'lobby' }) >= 3, 'journal writes timed');
  t.ok(val(s, 'chatd_room_cpu_seconds_total', { room: 'lobby', mode: 'user' }) > 0, 'room CPU');
  t.ok(val(s, 'chatd_room_resident_memory_bytes', { room: 'lobby' }) > 10e6, 'room RSS');
  t.equal(val(s, 'chatd_rooms', { state: 'running' }), 1, 'one room running');
  t.equal(val(s, 'chatd_ready'), 1, 'ready');
  t.ok(val(s, 'chatd_supervisor_process_resident_memory_bytes') > 0, "the supervisor's own default metrics");

  // Over the say rate: the burst left is 3 (8 - 5, a little refilled), so most of 12 are refused.
  for (let i = 1; i <= 12; i++) ann.send({ type: 'say', token: a.token, id: `f${i}`, text: `flood ${i}` }, a.port);
  s = await untilMetrics(admin, (m) => val(m, 'chatd_rate_limited_total', { room: 'lobby', kind: 'say' }) >= 5, 'says refused RATE_LIMITED to be counted');
  const accepted = val(s, 'chatd_messages_total', { room: 'lobby' }) - 5;
  t.equal(accepted + val(s, 'chatd_rate_limited_total', { room: 'lobby', kind: 'say' }), 12, 'each flooded say was either sequenced or rate-limited');

  // bob falls silent: evicted after heartbeatMs x heartbeatMisses.
  bobBeat.stop();
  await c.waitLog((l) => l.event === 'member_evicted' && l['room'] === 'lobby', 10_000, 'member_evicted');
  s = await untilMetrics(admin, (m) => val(m, 'chatd_evictions_total', { room: 'lobby' }) === 1 && val(m, 'chatd_room_members', { room: 'lobby' }) === 1, 'the eviction');

  // The room's process is killed: restarted, and its counts carry on from where they were.
  const before = val(s, 'chatd_messages_total', { room: 'lobby' });
  const pid = await c.roomPid('lobby', 1);
  process.kill(pid, 'SIGKILL');
  await c.roomPid('lobby', 2, 20_000);
  t.notOk(isAlive(pid), 'the first incarnation is gone');
  s = await untilMetrics(admin, (m) => val(m, 'chatd_room_restarts_total', { room: 'lobby' }) === 1 && val(m, 'chatd_rooms', { state: 'running' }) === 1, 'the restart to be counted');
  t.equal(val(s, 'chatd_messages_total', { room: 'lobby' }), before, 'the first incarnation\'s messages are still counted');
  ann.send({ type: 'say', token: a.token, id: 'after', text: 'after the restart' }, a.port);
  await ann.next((o) => o['type'] === 'msg' && o['id'] === 'after', 10_000, 'the ack of a message to the new incarnation');
  s = await untilMetrics(admin, (m) => val(m, 'chatd_messages_total', { room: 'lobby' }) === before + 1, 'one more message, added to the earlier incarnation\'s');
  t.equal(val(s, 'chatd_evictions_total', { room: 'lobby' }), 1, 'the eviction is still counted');
  t.equal(val(s, 'chatd_room_give_ups_total', { reason: 'crashed' }), 0, 'nothing given up');
  annBeat.stop();
});

t.test('the exposition is well formed: every sample belongs to a chatd_ metric with HELP and TYPE, names carry their units', async (t) => {
  const c = await startChatd(t, { statsIntervalMs: 100 });
  const admin = adminAddress(c.logs)!;
  const ann = await RawClient.open(t);
  await ann.join(c.port, 'first', 'ann');
  const r = await untilMetrics(admin, (m) => sample(m, 'chatd_joins_total', { room: 'first' }) === 1, 'the first report');
  t.ok(r.length > 50);
  const text = (await get(admin, '/metrics')).body;
  const typed = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) typed.set(m[1]!, m[2]!);
  const helped = new Set([...text.matchAll(/^# HELP (\S+) /gm)].map((m) => m[1]!));
  for (const [name, type] of typed) {
    t.ok(name.startsWith('chatd_'), `${name} is a chatd_ metric`);
    t.ok(helped.has(name), `${name} has HELP`);
    if (type === 'counter') t.ok(name.endsWith('_total'), `counter ${name} ends in _total`);
  }
  for (const s of parseMetrics(text)) {
    const base = s.name.replace(/_(bucket|sum|count)$/, '');
    t.ok(typed.has(s.name) || typed.get(base) === 'histogram' || typed.get(base) === 'summary', `${s.name} is declared`);
  }
  t.equal(typed.get('chatd_journal_write_seconds'), 'histogram');
  t.equal(typed.get('chatd_journal_fsync_seconds'), 'histogram');
});

t.test('metricsRoomLabels 1: the first room keeps its label, the others are summed in room="_other", which never goes down', async (t) => {
  const c = await startChatd(t, { statsIntervalMs: 100, metricsRoomLabels: 1 });
  const admin = adminAddress(c.logs)!;
  const rooms = ['one', 'two', 'three'];
  const members: Array<{ c: RawClient; m: Membership }> = [];
  // One at a time, so that 'one' is the first room to exist.
  for (const [i, room] of rooms.entries()) {
    const client = await RawClient.open(t, `127.0.0.${i + 1}`);
    members.push({ c: client, m: await client.join(c.port, room, `nick${i}`) });
  }
  for (const [i, { c: client, m }] of members.entries()) {
    for (let k = 1; k <= i + 1; k++) client.send({ type: 'say', token: m.token, id: `s${k}`, text: `${m.room} ${k}` }, m.port);
    await client.next((o) => o['type'] === 'msg' && o['id'] === `s${i + 1}`, 10_000, `the last ack in ${m.room}`);
  }
  // Each room reports on its own timer: wait until both sides have reported the says.
  let s = await untilMetrics(admin, (m) => sample(m, 'chatd_messages_total', { room: '_other' }) === 5 && sample(m, 'chatd_messages_total', { room: 'one' }) === 1, "_other to hold 2 + 3 messages and 'one' its 1");
  t.equal(sample(s, 'chatd_messages_total', { room: 'one' }), 1, 'the first room has its own label');
  t.equal(sample(s, 'chatd_room_members', { room: '_other' }), 2, '_other sums the members of two rooms');
  t.equal(sample(s, 'chatd_joins_total', { room: '_other' }), 2);
  const labels = new Set(s.filter((x) => 'room' in x.labels).map((x) => x.labels['room']));
  t.same([...labels].sort(), ['_other', 'one'], 'no other room label appears');

  // 'two' is deleted (its only member leaves): _other keeps its counts.
  const two = members[1]!;
  await two.c.request({ type: 'leave', id: 'bye', token: two.m.token }, two.m.port);
  await c.waitLog((l) => l.event === 'room_stopped' && l['room'] === 'two', 10_000, 'room two deleted');
  s = await untilMetrics(admin, (m) => sample(m, 'chatd_room_members', { room: '_other' }) === 1, 'room two gone from _other\'s members');
  t.equal(sample(s, 'chatd_messages_total', { room: '_other' }), 5, '_other still counts room two\'s messages');
  t.ok((sample(s, 'chatd_leaves_total', { room: '_other' }) ?? 0) >= 1, 'and its leave');
  const status = JSON.parse((await get(admin, '/status')).body) as { rooms: Array<{ room: string }> };
  t.same(status.rooms.map((r) => r.room), ['one', 'three'], '/status lists every room by name, unbounded by metricsRoomLabels');
});
