// NAT rebinding (test/helpers/nat-bed.ts, masquerade random): in the middle
// of a chat the router forgets its mappings (a conntrack flush, as a NAT
// does to idle ones), three times. The NATed member's next datagram comes
// from a new port; the room challenges it there, the membership moves, and
// chat goes on: the member is not evicted, every acknowledged say reaches
// the other member exactly once and in seq order, and the room logs
// member_moved after each flush. Then the same with members that only
// heartbeat: the move must come within two heartbeats of the flush.
import t from 'tap';
import { analyse } from './helpers/delivery-check.js';
import { canFlushMappings, createNatBed } from './helpers/nat-bed.js';
import { complaints, evictions, HEARTBEAT_MS, linesAbout, MISSES, RETRY_MS, startChatdInBed, startPair } from './helpers/nat-chat.js';
import { canRun } from './helpers/netns.js';

const FLUSHES = 3;
const SENDS = 150; // per member: at RATE_MS, about 10 s of chat, long enough for every flush
const RATE_MS = 60;
const DURATION_MS = 40_000; // the fixtures' own bound
/** Chat between flushes: a mapping lives at least this long before the next flush takes it. */
const BETWEEN_FLUSHES_MS = 1_500;
const IDLE_FLUSHES = 2;
const IDLE_MS = 2 * 1_500 + 2 * 3_000 + 3_000; // two flush rounds at their longest, and a margin

interface Flush {
  /** Mappings the flush deleted. */
  flushed: number;
  /** From the flush to the room's member_moved (its log time). */
  movedMs: number;
  from: string;
  to: string;
}

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

    /**
     * Flushes the router's mappings `times` times, BETWEEN_FLUSHES_MS apart,
     * and waits after each for the room to move the member (at most
     * MISSES heartbeats: after that it would have been evicted).
     */
    async function flushAndWaitMoves(member: string, times: number): Promise<Flush[]> {
      const moves = () => linesAbout(d, 'member_moved', member);
      // The first move is the room meeting the client's room-side mapping (control and room ports differ).
      await d.waitLog((l) => l.event === 'member_moved' && l['member'] === member, 10_000, 'the first member_moved');
      const flushes: Flush[] = [];
      for (let i = 0; i < times; i++) {
        // Pacing, not waiting for an outcome: the members go on as before between flushes.
        await new Promise((r) => setTimeout(r, BETWEEN_FLUSHES_MS));
        const before = moves().length;
        const flushed = bed.flushMappings();
        const flushedAt = Date.now(); // when conntrack returned: the mappings are gone by then
        const line = await d.waitLog(
          (l) => l.event === 'member_moved' && l['member'] === member && moves().indexOf(l) >= before,
          HEARTBEAT_MS * MISSES,
          `member_moved after flush ${i + 1}`,
        );
        const at = Date.parse(String(line['time']));
        flushes.push({ flushed, movedMs: (Number.isFinite(at) ? at : Date.now()) - flushedAt, from: String(line['from']), to: String(line['to']) });
      }
      return flushes;
    }

    const describe = (flushes: Flush[]) =>
      flushes.map((a, i) => `#${i + 1} took ${a.flushed} mappings, member moved ${a.movedMs} ms later (${a.from} → ${a.to})`).join('; ');

    await t.test('while both members chat', async (t) => {
      const pair = await startPair(bed, d, { room: 'rebind', send: SENDS, rateMs: RATE_MS, durationMs: DURATION_MS, maxAttempts: 20, retryMs: RETRY_MS });
      pair.natted.go();
      pair.plain.go();
      const flushes = await flushAndWaitMoves(pair.nattedMember, FLUSHES);
      const results = await Promise.all([pair.natted.result(DURATION_MS + 15_000), pair.plain.result(DURATION_MS + 15_000)]);
      const { figures: f, problems } = analyse(results);
      const moved = linesAbout(d, 'member_moved', pair.nattedMember).length;
      t.comment(`flushes: ${describe(flushes)}`);
      t.comment(
        `delivered ${f.delivered}/${f.expected}, duplicates ${f.duplicates}, out-of-order ${f.outOfOrder}, gaps ${f.gaps}, ` +
          `max delivery delay ${f.maxDelayMs} ms (median ${f.p50DelayMs} ms), slowest ack ${f.maxAckMs} ms, member_moved ${moved} times`,
      );
      t.ok(flushes.every((a) => a.flushed >= 1), 'every flush took mappings away');
      t.ok(flushes.every((a) => a.from !== a.to), 'every move went to a new endpoint');
      t.ok(moved >= 1 + FLUSHES, `member_moved at the start and after each flush (${moved})`);
      t.ok(f.expected >= 2 * 2 * (SENDS + 1), `every say acknowledged is owed to both members (${f.expected})`);
      t.same(problems, [], 'acknowledged says reach both members exactly once, in seq order, with no gap or lost membership');
      t.equal(f.delivered, f.expected, 'delivered 100 %');
      t.same(d.logs.filter((l) => l.event === 'token_wrong_endpoint'), [], 'no token was refused as from the wrong endpoint');
      t.same([...evictions(d, pair.nattedMember), ...evictions(d, pair.plainMember)], [], 'nobody was evicted');
      t.same(results.flatMap((r) => r.presence.filter((p) => p.event === 'evict')), [], 'no member heard presence evict');
      t.same((await Promise.all([pair.natted.exited, pair.plain.exited])).map((e) => e.code), [0, 0], 'both left and exited 0');
    });

    await t.test('while the members only heartbeat', async (t) => {
      // Nothing to say: the NATed member's next datagram after a flush is its heartbeat.
      const pair = await startPair(bed, d, { room: 'idle', send: 0, durationMs: IDLE_MS, retryMs: RETRY_MS });
      pair.natted.go();
      pair.plain.go();
      const flushes = await flushAndWaitMoves(pair.nattedMember, IDLE_FLUSHES);
      const results = await Promise.all([pair.natted.result(IDLE_MS + 15_000), pair.plain.result(IDLE_MS + 15_000)]);
      t.comment(`flushes: ${describe(flushes)}`);
      t.ok(flushes.every((a) => a.flushed >= 1 && a.from !== a.to), 'every flush moved the member to a new endpoint');
      t.ok(
        flushes.every((a) => a.movedMs <= 2 * HEARTBEAT_MS),
        `moved within two heartbeats of every flush (${flushes.map((a) => a.movedMs).join(', ')} ms)`,
      );
      t.same(results.map((r) => r.why), ['duration', 'duration'], 'both stayed for the whole run');
      t.same(results.flatMap((r) => r.lost), [], 'no membership lost');
      t.same([...evictions(d, pair.nattedMember), ...evictions(d, pair.plainMember)], [], 'nobody was evicted');
      t.same(results.flatMap((r) => r.presence.filter((p) => p.event === 'evict')), [], 'no member heard presence evict');
      t.same((await Promise.all([pair.natted.exited, pair.plain.exited])).map((e) => e.code), [0, 0], 'both left and exited 0');
    });
    t.comment(`chatd warnings and errors: ${complaints(d).join(' | ') || 'none'}`);
  });
}
