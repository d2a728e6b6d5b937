// Rebuilding a room from its cluster journal: the batches a failover node
// reads, with the damage it must survive (repeated or backward seqs,
// garbage lines) counted rather than trusted.
import t from 'tap';
import { encode } from '../lib/codec.js';
import type { MemberRecord } from '../lib/ipc.js';
import { claimLine, memberLine, movedLine, rebuild } from '../rooms/stream-records.js';

const rec = (n: number): MemberRecord => ({
  member: `m${n}`,
  nick: `nick${n}`,
  tokenHash: `${'ab'.repeat(31)}${n.toString().padStart(2, '0')}`,
  address: '10.0.0.5',
  port: 40000 + n,
});
const presence = (seq: number, event: 'join' | 'leave' | 'evict', n: number) =>
  encode({ type: 'presence', room: 'lobby', seq, event, member: `m${n}`, nick: `nick${n}` });
const msg = (seq: number, n: number, text = `text ${seq}`) =>
  encode({ type: 'msg', room: 'lobby', seq, member: `m${n}`, nick: `nick${n}`, text, ts: 1_700_000_000_000 + seq, id: `s${seq}` });
/** One JetStream message: lines joined as the journal sends them, each ending in \n. */
const batch = (...lines: Buffer[]) => lines.map((l) => `${l.toString()}\n`).join('');
const seqs = (r: ReturnType<typeof rebuild>) => r.events.map((e) => e.seq);
const ids = (r: ReturnType<typeof rebuild>) => r.members.map((m) => m.member).sort();

t.test('an empty journal rebuilds nothing', async (t) => {
  t.strictSame(rebuild([]), { events: [], members: [], skipped: 0, lastClaim: undefined });
  t.strictSame(rebuild(['', '\n\n']), { events: [], members: [], skipped: 0, lastClaim: undefined }, 'blank lines are not damage');
});

t.test('members who joined are present with their record; those who left or were evicted are gone', async (t) => {
  const r = rebuild([
    batch(memberLine(rec(1)), presence(1, 'join', 1)),
    batch(memberLine(rec(2)), presence(2, 'join', 2), memberLine(rec(3)), presence(3, 'join', 3)),
    batch(msg(4, 1), presence(5, 'leave', 2)),
    batch(presence(6, 'evict', 3), memberLine(rec(4)), presence(7, 'join', 4)),
  ]);
  t.strictSame(ids(r), ['m1', 'm4']);
  t.strictSame(
    r.members.find((m) => m.member === 'm1'),
    rec(1),
    'every field of the record comes back',
  );
  t.equal(r.skipped, 0);
  t.strictSame(seqs(r), [1, 2, 3, 4, 5, 6, 7]);
});

t.test('a member who left and joined again is present with the later record', async (t) => {
  const again = { ...rec(1), nick: 'renamed', port: 41234 };
  const r = rebuild([
    batch(memberLine(rec(1)), presence(1, 'join', 1)),
    batch(presence(2, 'leave', 1)),
    batch(memberLine(again), presence(3, 'join', 1)),
  ]);
  t.strictSame(r.members, [again]);
});

t.test('a moved member is where it last moved; a move of someone absent is ignored', async (t) => {
  const r = rebuild([
    batch(memberLine(rec(1)), presence(1, 'join', 1), memberLine(rec(2)), presence(2, 'join', 2)),
    batch(movedLine('m1', { address: '192.0.2.1', port: 5000 })),
    batch(msg(3, 1), movedLine('m1', { address: '198.51.100.7', port: 6000 })),
    batch(movedLine('m9', { address: '192.0.2.9', port: 9 })),
  ]);
  t.strictSame(
    r.members.find((m) => m.member === 'm1'),
    { ...rec(1), address: '198.51.100.7', port: 6000 },
  );
  t.strictSame(
    r.members.find((m) => m.member === 'm2'),
    rec(2),
    'the others stay where they joined',
  );
  t.strictSame(ids(r), ['m1', 'm2'], 'a move does not make a member');
  t.equal(r.skipped, 0);
});

t.test('a seq seen again or going backwards is skipped and counted; the first line of a seq stands', async (t) => {
  const r = rebuild([
    batch(memberLine(rec(1)), presence(1, 'join', 1), msg(2, 1, 'first')),
    batch(msg(2, 1, 'second copy'), msg(3, 1)),
    batch(msg(1, 1, 'backwards'), msg(5, 1), msg(4, 1, 'late')),
  ]);
  t.strictSame(seqs(r), [1, 2, 3, 5]);
  t.equal(r.skipped, 3);
  t.equal((r.events[1]!.value as { text: string }).text, 'first');
});

t.test('a repeated leave does not take out a member who joined since', async (t) => {
  const r = rebuild([
    batch(memberLine(rec(1)), presence(1, 'join', 1)),
    batch(presence(2, 'leave', 1)),
    batch(memberLine(rec(1)), presence(3, 'join', 1)),
    batch(presence(2, 'leave', 1)),
  ]);
  t.strictSame(ids(r), ['m1'], 'the stale leave (seq 2 again) was skipped');
  t.equal(r.skipped, 1);
});

t.test('malformed lines are skipped and counted, and do not stop the rebuild', async (t) => {
  const bad = [
    '{not json',
    '[1,2]',
    '"a string"',
    'null',
    '{"type":"msg","room":"lobby","seq":0,"member":"m1","nick":"n","text":"t","ts":1,"id":"x"}',
    '{"type":"presence","room":"lobby","seq":9,"event":"wave","member":"m1","nick":"n"}',
    '{"type":"member","member":"m5","nick":"n"}',
    '{"type":"moved","member":"m1","address":"192.0.2.1","port":0}',
    '{"type":"claim","node":"b","incarnation":0,"at":1}',
    '{"type":"mystery"}',
  ];
  const r = rebuild([
    batch(memberLine(rec(1)), presence(1, 'join', 1)),
    bad.join('\n'),
    batch(msg(2, 1)),
  ]);
  t.equal(r.skipped, bad.length);
  t.strictSame(seqs(r), [1, 2]);
  t.strictSame(r.members, [rec(1)], 'neither the half member nor the move to port 0 took effect');
  t.equal(r.lastClaim, undefined);
});

t.test('a batch split mid-line by damage loses only the broken lines', async (t) => {
  const whole = batch(memberLine(rec(1)), presence(1, 'join', 1), msg(2, 1), msg(3, 1));
  const cut = whole.slice(0, whole.length - 20);
  const r = rebuild([cut, batch(msg(4, 1))]);
  t.strictSame(seqs(r), [1, 2, 4]);
  t.equal(r.skipped, 1);
});

t.test('lastClaim is the last claim in the journal', async (t) => {
  const r = rebuild([
    batch(claimLine('node-a', 1, 1000), memberLine(rec(1)), presence(1, 'join', 1)),
    batch(claimLine('node-b', 2, 2000)),
    batch(msg(2, 1)),
    batch(claimLine('node-a', 3, 3000), msg(3, 1)),
  ]);
  t.strictSame(r.lastClaim, { node: 'node-a', incarnation: 3 });
  t.strictSame(seqs(r), [1, 2, 3], 'claims are records, not events');
  t.equal(r.skipped, 0);
});

t.test('events come back in order with the bytes members got, and their parsed value', async (t) => {
  const lines = [presence(1, 'join', 1), msg(2, 1, 'h\u00e9 \u{1F600} "quoted"'), presence(3, 'leave', 1)];
  const r = rebuild([batch(memberLine(rec(1)), lines[0]!, lines[1]!), batch(lines[2]!)]);
  t.strictSame(seqs(r), [1, 2, 3]);
  for (const [i, e] of r.events.entries()) {
    t.ok(e.encoded.equals(lines[i]!), `event ${e.seq}: same bytes`);
    t.strictSame(e.value, JSON.parse(lines[i]!.toString()));
  }
});

t.test('record lines round-trip through their builders', async (t) => {
  t.strictSame(JSON.parse(memberLine(rec(7)).toString()), { type: 'member', ...rec(7) });
  t.strictSame(JSON.parse(movedLine('m7', { address: '::1', port: 9 }).toString()), { type: 'moved', member: 'm7', address: '::1', port: 9 });
  t.strictSame(JSON.parse(claimLine('n', 4, 123).toString()), { type: 'claim', node: 'n', incarnation: 4, at: 123 });
  // A member record never carries a raw token, whatever the caller's object holds.
  const withToken = { ...rec(8), token: 'raw-secret-token' } as MemberRecord;
  t.notMatch(memberLine(withToken).toString(), /raw-secret-token/);
});
