// A full disk on a real tmpfs (root only): no message is acknowledged
// unless the journal holds it whole; says are refused with a reason while
// writes fail; hb, fetch, who and leave keep working; the room is neither
// restarted nor given up; once space returns, messages are accepted again
// with seqs above every earlier one.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { RawClient, type Obj } from './helpers/raw-client.js';

function mountTmpfs(): string | string[] {
  if (process.getuid?.() !== 0) return ['needs root to mount a tmpfs'];
  const dir = mkdtempSync(join(tmpdir(), 'chatd-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return [`cannot mount a tmpfs: ${(err as Error).message.split('\n')[0]}`];
  }
  return dir;
}

const mounted = mountTmpfs();
if (Array.isArray(mounted)) {
  t.test('a full disk refuses says and recovers by itself', { skip: mounted[0] }, async () => {});
} else {
  const mnt = mounted;
  t.teardown(() => {
    try {
      execFileSync('umount', ['-l', mnt], { stdio: 'pipe' });
    } catch {
      /* already gone */
    }
    rmSync(mnt, { recursive: true, force: true });
  });

  t.test('a full disk refuses says without losing or repeating any acknowledged one, and recovers by itself', async (t) => {
    const d = await startChatd(t, { dataDir: join(mnt, 'data'), journalFsync: 'always', sayRatePerSec: 10_000, sayBurst: 10_000 });
    const alice = await RawClient.open(t);
    const bob = await RawClient.open(t);
    const ma = await alice.join(d.port, 'full', 'alice');
    const mb = await bob.join(d.port, 'full', 'bob');
    // Leave about 24 KiB: ~50 messages of 450 characters.
    const filler = join(mnt, 'filler');
    const free = () => {
      const s = statfsSync(mnt);
      return s.bavail * s.bsize;
    };
    writeFileSync(filler, Buffer.alloc(Math.max(0, free() - 24 * 1024)));
    const acked: Obj[] = [];
    const refused: Obj[] = [];
    const text = (i: number) => `${i} `.padEnd(450, 'x');
    for (let i = 0; refused.length < 5 && i < 2_000; i++) {
      const id = `m${i}`;
      alice.send({ type: 'say', token: ma.token, id, text: text(i) }, ma.port);
      const r = await alice.next((o) => o['id'] === id, 10_000, `answer to ${id}`);
      (r['type'] === 'msg' ? acked : refused).push(r);
    }
    t.ok(acked.length >= 10, `${acked.length} messages acknowledged before the disk filled`);
    t.equal(refused.length, 5, 'then says were refused');
    for (const r of refused) {
      t.match(r, { type: 'error', code: 'ROOM_UNAVAILABLE', message: /disk is full/ });
      t.notMatch(String(r['message']), /\//, 'no server path in what a member sees');
    }
    const seqs = acked.map((o) => o['seq'] as number);
    t.same(seqs, seqs.map((_, i) => seqs[0]! + i), 'acknowledged seqs are consecutive, none repeated');
    // hb, who, fetch keep working while the disk is full.
    const hb = await alice.request({ type: 'who', token: ma.token, id: 'w1' }, ma.port);
    t.equal(hb['type'], 'members', 'who answered');
    bob.send({ type: 'hb', token: mb.token }, mb.port);
    const hbReply = await bob.next((o) => o['type'] === 'hb', 10_000, 'hb reply');
    t.equal(hbReply['seq'], seqs.at(-1), 'hb names the last acknowledged seq, not a refused one');
    // Bob got exactly the acknowledged messages: same seqs, same texts.
    const last = await bob.next((o) => o['type'] === 'msg' && o['seq'] === seqs.at(-1), 10_000, 'the last acknowledged message');
    const seen = [...bob.received.filter((o) => o['type'] === 'msg'), last];
    t.same(seen.map((o) => [o['seq'], o['text']]), acked.map((o) => [o['seq'], o['text']]), 'every member saw each acknowledged message once, and nothing else');
    // A room cannot be created on a full disk: a clear error, not INTERNAL.
    const other = await RawClient.open(t);
    const refusedJoin = await other.request({ type: 'join', id: 'j-full', room: 'another', nick: 'carol' }, d.port);
    t.match(refusedJoin, { type: 'error', code: 'ROOM_UNAVAILABLE', message: /disk is full/ }, 'a join that needs a new room on a full disk says why');
    t.notMatch(String(refusedJoin['message']), /\//);
    // Space comes back: the next say is accepted, above every earlier seq.
    rmSync(filler);
    const again = await alice.request({ type: 'say', token: ma.token, id: 'back', text: 'space is back' }, ma.port);
    t.match(again, { type: 'msg', seq: seqs.at(-1)! + 1 }, 'accepted again, with the next seq');
    t.notOk(d.logs.some((l) => l.event === 'room_exit'), 'the room was never restarted');
    // Log lines trail the datagrams (they are relayed through the supervisor): await them.
    t.ok(await d.waitLog((l) => l.event === 'journal_write_failed' && l['room'] === 'full', 10_000, 'journal_write_failed'), 'the failure is logged');
    t.ok(await d.waitLog((l) => l.event === 'journal_write_recovered' && l['room'] === 'full', 10_000, 'journal_write_recovered'), 'and the recovery');
    // The journal holds every acknowledged message exactly once.
    const dir = join(mnt, 'data', 'rooms');
    const file = readdirSync(dir).find((f) => f.startsWith('full~') && f.endsWith('.jsonl'))!;
    const journal = readFileSync(join(dir, file), 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Obj);
    const inJournal = journal.filter((o) => o['type'] === 'msg').map((o) => o['id']);
    t.same(inJournal, [...acked.map((o) => o['id']), 'back'], 'each acknowledged message is in the journal once; no refused one is');
  });
}
