// NAT rebinding (test/helpers/nat-bed.ts, masquerade random): in the middle
// of a chat the router forgets its mappings (a conntrack flush, as a NAT
// does to idle ones), three times. The NATed member's next datagram comes
// from a new port; the room challenges it there, the membership moves, and
// chat goes on: the member is not evicted, every acknowledged say reaches
// the other member exactly once and in seq order, and the room logs
// member_moved after each flush.
import t from 'tap';
import { analyse } from './helpers/delivery-check.js';
import { canFlushMappings, createNatBed } from './helpers/nat-bed.js';
import { evictions, HEARTBEAT_MS, linesAbout, MISSES, RETRY_MS, startChatdInBed, startPair } from './helpers/nat-chat.js';
import { canRun } from './helpers/netns.js';

const FLUSHES = 3;
const SENDS = 150; // per member: at RATE_MS, about 10 s of chat, long enough for every flush
const RATE_MS = 60;
const DURATION_MS = 40_000; // the fixtures' own bound
/** Chat between flushes: a mapping lives at least this long before the next flush takes it. */
const BETWEEN_FLUSHES_MS = 1_500;

const can = canRun();
const ct = canFlushMappings();
if (!can.ok) {
  t.plan(0, `network namespace tests skipped: ${can.reason}`);
} else if (!ct.ok) {
  t.plan(0, `NAT rebinding tests skipped: ${ct.reason}`);
} else {
  t.test('the NAT drops its mappings mid-session', async (t) => {
    const bed = createNatBed(t, { masquerade: 'random' });
    const d = await startChatdInBed(bed);
    t.comment(`bed ${bed.prefix}: client ${bed.client.address} behind ${bed.router.serverSide} (random), chatd ${d.host}:${d.port}`);
    const pair = await startPair(bed, d, { room: 'rebind', send: SENDS, rateMs: RATE_MS, durationMs: DURATION_MS, maxAttempts: 20, retryMs: RETRY_MS });
    const moves = () => linesAbout(d, 'member_moved', pair.nattedMember);
    pair.natted.go();
    pair.plain.go();

    // The first move is the room meeting the client's second mapping (control and room ports differ).
    await d.waitLog((l) => l.event === 'member_moved' && l['member'] === pair.nattedMember, 10_000, 'the first member_moved');
    const afterFlush: Array<{ flushed: number; movedMs: number; from: string; to: string }> = [];
    for (let i = 0; i < FLUSHES; i++) {
      await new Promise((r) => setTimeout(r, BETWEEN_FLUSHES_MS));
      const before = moves().length;
      const flushedAt = Date.now();
      const flushed = bed.flushMappings();
      // Bound: the client speaks every RATE_MS and heartbeats every HEARTBEAT_MS; two heartbeats is generous.
      const line = await d.waitLog(
        (l) => l.event === 'member_moved' && l['member'] === pair.nattedMember && moves().indexOf(l) >= before,
        HEARTBEAT_MS * MISSES,
        `member_moved after flush ${i + 1}`,
      );
      const at = Date.parse(String(line['time']));
      afterFlush.push({ flushed, movedMs: (Number.isFinite(at) ? at : Date.now()) - flushedAt, from: String(line['from']), to: String(line['to']) });
    }
    const results = await Promise.all([pair.natted.result(DURATION_MS + 15_000), pair.plain.result(DURATION_MS + 15_000)]);
    const { figures: f, problems } = analyse(results);
    t.comment(
      `flushes: ${afterFlush.map((a, i) => `#${i + 1} took ${a.flushed} mappings, member moved ${a.movedMs} ms later (${a.from} → ${a.to})`).join('; ')}`,
    );
    t.comment(
      `delivered ${f.delivered}/${f.expected}, duplicates ${f.duplicates}, out-of-order ${f.outOfOrder}, gaps ${f.gaps}, ` +
        `max delivery delay ${f.maxDelayMs} ms (median ${f.p50DelayMs} ms), slowest ack ${f.maxAckMs} ms, member_moved ${moves().length} times`,
    );
    t.ok(
      afterFlush.every((a) => a.flushed >= 1),
      'every flush took mappings away',
    );
    t.ok(afterFlush.every((a) => a.from !== a.to), 'every move went to a new endpoint');
    t.ok(moves().length >= 1 + FLUSHES, `member_moved at the start and after each flush (${moves().length})`);
    t.ok(f.expected >= 2 * 2 * (SENDS + 1), `every say acknowledged is owed to both members (${f.expected})`);
    t.same(problems, [], 'acknowledged says reach both members exactly once, in seq order, with no gap or lost membership');
    t.equal(f.delivered, f.expected, 'delivered 100 %');
    t.same(d.logs.filter((l) => l.event === 'token_wrong_endpoint'), [], 'no token was refused as from the wrong endpoint');
    t.same([...evictions(d, pair.nattedMember), ...evictions(d, pair.plainMember)], [], 'nobody was evicted');
    t.same(results.flatMap((r) => r.presence.filter((p) => p.event === 'evict')), [], 'no member heard presence evict');
    t.same((await Promise.all([pair.natted.exited, pair.plain.exited])).map((e) => e.code), [0, 0], 'both left and exited 0');
  });
}
