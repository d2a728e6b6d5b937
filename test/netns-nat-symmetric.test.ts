// A client behind a symmetric NAT (test/helpers/nat-bed.ts, masquerade
// fully-random): the room sees it from another port than the control
// endpoint did. The room challenges that new endpoint, the client answers
// from the same socket, the membership moves, and chat goes on as on any
// link: every acknowledged say reaches the other member (beside chatd, no
// NAT) exactly once and in seq order, nobody is evicted. `chat send` run
// behind the same NAT exits 0 and its message arrives.
import t from 'tap';
import { analyse } from './helpers/delivery-check.js';
import { createNatBed } from './helpers/nat-bed.js';
import { complaints, evictions, linesAbout, RETRY_MS, runCliIn, startChatdInBed, startPair } from './helpers/nat-chat.js';
import { canRun, startChatter } from './helpers/netns.js';

const SENDS = 40; // per member
const RATE_MS = 60;
const DURATION_MS = 30_000; // the fixtures' own bound

const hostOf = (endpoint: unknown) => String(endpoint).slice(0, String(endpoint).lastIndexOf(':'));

const can = canRun();
if (!can.ok) {
  t.plan(0, `network namespace tests skipped: ${can.reason}`);
} else {
  t.test('behind a symmetric NAT', async (t) => {
    const bed = createNatBed(t, { masquerade: 'fully-random' });
    const d = await startChatdInBed(bed);
    t.comment(`bed ${bed.prefix}: client ${bed.client.address} behind ${bed.router.serverSide} (fully-random), chatd ${d.host}:${d.port}`);

    await t.test('two members chat, one of them behind the NAT', async (t) => {
      const started = Date.now();
      const pair = await startPair(bed, d, { room: 'sym', send: SENDS, rateMs: RATE_MS, durationMs: DURATION_MS, maxAttempts: 20, retryMs: RETRY_MS });
      pair.natted.go();
      pair.plain.go();
      const results = await Promise.all([pair.natted.result(DURATION_MS + 15_000), pair.plain.result(DURATION_MS + 15_000)]);
      const { figures: f, problems } = analyse(results);
      const moved = linesAbout(d, 'member_moved', pair.nattedMember);
      t.comment(
        `delivered ${f.delivered}/${f.expected}, duplicates ${f.duplicates}, out-of-order ${f.outOfOrder}, max delivery delay ${f.maxDelayMs} ms ` +
          `(median ${f.p50DelayMs} ms), slowest ack ${f.maxAckMs} ms, member_moved ${moved.map((m) => `${String(m['from'])} → ${String(m['to'])}`).join(', ') || 'never'}, ` +
          `run ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
      t.ok(f.expected >= 2 * 2 * (SENDS + 1), `every say acknowledged is owed to both members (${f.expected})`);
      t.same(problems, [], 'acknowledged says reach both members exactly once, in seq order, with no gap or lost membership');
      t.equal(f.delivered, f.expected, 'delivered 100 %');
      t.ok(moved.length >= 1, 'the room moved the NATed membership to the endpoint it talks from');
      t.ok(
        moved.every((m) => hostOf(m['from']) === bed.router.serverSide && hostOf(m['to']) === bed.router.serverSide && m['from'] !== m['to']),
        'from one NAT port to another',
      );
      t.same(linesAbout(d, 'member_moved', pair.plainMember), [], 'the member without NAT never moved');
      t.same(d.logs.filter((l) => l.event === 'token_wrong_endpoint'), [], 'no token was refused as from the wrong endpoint');
      t.same([...evictions(d, pair.nattedMember), ...evictions(d, pair.plainMember)], [], 'nobody was evicted');
      t.same(results.flatMap((r) => r.presence.filter((p) => p.event === 'evict')), [], 'no member heard presence evict');
      t.same((await Promise.all([pair.natted.exited, pair.plain.exited])).map((e) => e.code), [0, 0], 'both left and exited 0');
    });

    await t.test('chat send behind the NAT', async (t) => {
      const listener = startChatter(bed, bed.server, { server: { host: d.host, port: d.port }, room: 'symcli', nick: 'listener', durationMs: DURATION_MS, retryMs: RETRY_MS });
      await listener.joined();
      const text = `through the NAT ${Date.now()}`;
      const cli = await runCliIn(bed, bed.client.ns, ['send', '--server', `${d.host}:${d.port}`, '--room', 'symcli', '--nick', 'clibot', '--timeout', '15000', text], 20_000);
      t.comment(`chat send exited ${String(cli.code ?? cli.signal)} after ${cli.ms} ms${cli.stderr ? `; stderr: ${cli.stderr.trim()}` : ''}`);
      t.equal(cli.code, 0, 'chat send exits 0');
      // Its leave is sequenced after its message: once the listener hears it, the message came first or never.
      await listener
        .wait((l) => l.event === 'presence' && l['what'] === 'leave' && l['nick'] === 'clibot', 10_000, 'clibot leaving')
        .catch(() => undefined);
      listener.proc.kill('SIGTERM');
      const heard = await listener.result(10_000);
      t.same(heard.received.filter((m) => m.nick === 'clibot').map((m) => m.text), [text], 'the listener got the message, once');
      t.same(heard.lost, [], 'the listener kept its membership');
    });
    t.comment(`chatd warnings and errors: ${complaints(d).join(' | ') || 'none'}`);
  });
}
