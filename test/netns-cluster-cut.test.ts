// Cluster mode with a real partition: NATS, three chatd nodes and the
// members each in their own network namespace (test/helpers/cluster-bed.ts).
// Node 0, holding the room, is cut off from NATS by nftables (its TCP to the
// NATS client port dropped) while its members still reach it over UDP; then
// the cut is healed. A node that cannot store must acknowledge nothing (a
// say sent to it during the cut gets no msg); its lease lapses and another
// node takes the room over, where the members follow it (`where`); once
// healed, node 0 gives the room up (its journal refuses it, or it sees the
// directory moved on) and a say sent to its old endpoint still gets no msg.
// Over everything both members saw plus a full fetch: no seq holds two
// events, no hole, every acknowledged say once at its seq.
import t from 'tap';
import { createClusterBed } from './helpers/cluster-bed.js';
import { assertHistory, historyProblems, type HistoryView } from './helpers/cluster-chatter.js';
import { skipReason } from './helpers/nats.js';
import { canRun, readLines, type ChatdInNs } from './helpers/netns.js';
import { fileURLToPath } from 'node:url';
import type { LogLine } from './helpers/chatd.js';

const MEMBERS = fileURLToPath(new URL('./fixtures/netns-cluster-members.js', import.meta.url));
const LEASE_MS = 2_000;
const RESUME_BUDGET_MS = LEASE_MS + 10_000;
const CHAT_AFTER_MOVE_MS = 2_000;
/** How long a say sent to the old endpoint after the heal must stay unanswered. */
const OLD_ENDPOINT_SILENT_MS = 3_000;
const GAVE_UP = new Set(['room_fenced', 'room_lost', 'room_released']);

interface Status extends LogLine {
  at: number;
  acked: number[];
  rooms: string[];
  moves: number[];
}

interface Reported {
  name: string;
  seen: Array<[number, string]>;
  acked: Array<[string, number]>;
  conflicts: string[];
  msgs: Array<{ at: number; from: string; id: string; seq: number }>;
}

const bed = canRun();
const nats = skipReason();
if (!bed.ok) {
  t.plan(0, bed.reason);
} else if (nats) {
  t.plan(0, `cluster tests skipped: ${nats}`);
} else {
  t.test('a node cut off from NATS loses its room and acknowledges nothing for it, during the cut or after', { timeout: 90_000 }, async (t) => {
    const b = createClusterBed(t, 3);
    await b.startNats();
    const config = { clusterName: `cut${process.pid}`, journalReplicas: 1, nodeLeaseMs: LEASE_MS };
    const nodes: ChatdInNs[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await b.startNode(i, config));
    const addr = (i: number) => b.nodeHosts[i]!.address;
    const control = nodes.map((n) => `${n.host}:${n.port}`).join(',');

    const proc = b.nodeIn(b.members.ns, MEMBERS, ['--control', control, '--room', 'lobby'], { stdio: ['pipe', 'pipe', 'pipe'] });
    proc.stdin!.on('error', () => {});
    const members = readLines(proc);
    const command = (o: object) => proc.stdin!.write(JSON.stringify(o) + '\n');
    const status = (what: string, ms: number, pred: (s: Status) => boolean, since = 0) =>
      members.wait((l) => l.event === 'status' && (l as Status).at >= since && pred(l as Status), ms, what) as Promise<Status>;
    const joined = await members.wait((l) => l.event === 'joined', 20_000, 'the members joined');
    const old = (joined['rooms'] as string[])[0]!;
    t.equal(old.split(':')[0], addr(0), 'node 0 holds the room');
    t.same(joined['rooms'], [old, old], 'both members at one endpoint');
    const [oldHost, oldPort] = [old.split(':')[0]!, Number(old.split(':')[1])];
    const atCut = await status('10 acks each at node 0', 20_000, (s) => s.acked.every((n) => n >= 10));

    // ---- the cut ----
    const cutAt = Date.now();
    b.cut(0);
    command({ cmd: 'live', nodes: [1, 2] });
    command({ cmd: 'say-to', host: oldHost, port: oldPort, id: 'ann-old-cut' });
    const moved = await status(
      'both members acknowledged at a new endpoint',
      RESUME_BUDGET_MS,
      (s) => s.rooms.every((r) => !r.startsWith(`${addr(0)}:`)) && s.acked.every((n, i) => n > atCut.acked[i]!),
      cutAt,
    );
    const movedMs = moved.at - cutAt;
    t.comment(`the room answered at ${moved.rooms[0]!} ${movedMs} ms after the cut`);
    t.same(moved.rooms, [moved.rooms[0], moved.rooms[0]], `both members moved (where) to one new endpoint, ${moved.rooms[0]!}`);
    const taker = nodes.findIndex((n) => n.logs.some((l) => l.event === 'room_claimed' && l['room'] === 'lobby'));
    t.ok(taker > 0, `node ${taker} claimed the room`);
    t.equal(moved.rooms[0]!.split(':')[0], addr(taker), 'the new endpoint is on the node that claimed it');
    const chatted = await status(`${CHAT_AFTER_MOVE_MS} ms of chat at the new endpoint`, CHAT_AFTER_MOVE_MS + 10_000, () => true, moved.at + CHAT_AFTER_MOVE_MS);
    t.ok(chatted.acked.every((n, i) => n > moved.acked[i]!), 'chat went on at the new endpoint');

    // ---- the heal ----
    const healAt = Date.now();
    b.heal(0);
    command({ cmd: 'live', nodes: [0, 1, 2] });
    const gaveUp = await nodes[0]!.waitLog((l) => GAVE_UP.has(l.event ?? '') && l['room'] === 'lobby', 20_000, 'node 0 gives the room up');
    t.comment(`node 0 logged ${gaveUp.event} ${Date.now() - healAt} ms after the heal`);
    t.pass(`node 0 gave the room up after the heal (${gaveUp.event})`);
    command({ cmd: 'say-to', host: oldHost, port: oldPort, id: 'ann-old-healed' });
    const sent = await members.wait((l) => l.event === 'sent-to' && l['id'] === 'ann-old-healed', 5_000, 'the say to the old endpoint sent');
    const sentAt = sent['at'] as number;
    const quiet = await status(`${OLD_ENDPOINT_SILENT_MS} ms after a say to the old endpoint`, OLD_ENDPOINT_SILENT_MS + 10_000, () => true, sentAt + OLD_ENDPOINT_SILENT_MS);
    const before = await status('a status at the say to the old endpoint', 5_000, () => true, sentAt);
    t.ok(quiet.acked[0]! > before.acked[0]!, `meanwhile ann's says at the new endpoint were acknowledged (${quiet.acked[0]! - before.acked[0]!})`);

    command({ cmd: 'finish' });
    const result = await members.wait((l) => l.event === 'result', 20_000, 'the members\' result');
    t.same(result['fetchErrors'], [], 'both members fetched the whole history');
    const reported = result['chatters'] as Reported[];
    const fromOld = (since: number) => reported.flatMap((r) => r.msgs.filter((m) => m.from === old && m.at >= since).map((m) => `${r.name}: ${m.id} at ${m.seq}`));
    t.same(fromOld(sentAt), [], `no msg came from the old endpoint ${old} after the say sent there after the heal`);
    t.comment(`msgs from the old endpoint taken in after the cut (each is in the history checks below): ${fromOld(cutAt).length} (${fromOld(cutAt).join('; ')})`);
    const stray = reported.flatMap((r) => r.seen.filter(([, k]) => k.includes(':ann-old-')).map(([s, k]) => `${r.name}: ${s} ${k}`));
    t.same(stray, [], 'neither say sent to the old endpoint (during the cut, after the heal) was sequenced anywhere');
    const views: HistoryView[] = reported.map((r) => ({ seen: new Map(r.seen), acked: new Map(r.acked), conflicts: r.conflicts }));
    assertHistory(t, historyProblems(views));

    const events0 = nodes[0]!.logs.filter((l) => l['room'] === 'lobby' && /^journal_|^room_/.test(l.event ?? '')).map((l) => l.event);
    t.comment(`node 0's room events: ${events0.join(', ')}`);
    const bad = nodes.flatMap((n, i) => n.logs.filter((l) => l['level'] === 'fatal').map((l) => `node ${i}: ${JSON.stringify(l).slice(0, 300)}`));
    t.same(bad, [], 'no chatd process logged a fatal error');
  });
}
