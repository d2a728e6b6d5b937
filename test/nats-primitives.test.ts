// The NATS JetStream primitives cluster mode is built on, proved against
// real servers, so that a nats-server or client version that changes one
// fails here rather than in the room directory or a room's journal:
//   - KV create-if-absent and update-by-revision refuse a stale writer;
//   - a KV bucket's ttl expires a key nobody renews (a node lease) and
//     keeps one that is renewed;
//   - a stream publish that expects a last sequence is refused once
//     another writer appended (the fence of a room's journal);
//   - a publish repeated with the same msgID is stored once;
//   - with three servers and R3, SIGKILL of the stream leader while
//     publishing loses no acknowledged publish and stores none twice when
//     publishes are retried with their msgID; the killed server rejoins.
import { setTimeout as sleep } from 'node:timers/promises';
import t, { type Test } from 'tap';
import { connect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, JetStreamApiCodes, JetStreamApiError, type JetStreamClient, type JetStreamManager, type PubAck } from '@nats-io/jetstream';
import { Kvm } from '@nats-io/kv';
import { natsServerVersion, skipReason, startNats, type NatsCluster } from './helpers/nats.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

const enc = (s: string) => new TextEncoder().encode(s);
const dec = (b: Uint8Array) => new TextDecoder().decode(b);

/** With noRandomize the client connects to servers[0] first (the cluster test chooses which server that is). */
async function client(t: Teardown, servers: string[], name: string, noRandomize = false): Promise<NatsConnection> {
  // Reconnects fast and forever: the cluster test kills the server a client may be on.
  const nc = await connect({ servers, name, noRandomize, reconnectTimeWait: 50, maxReconnectAttempts: -1, timeout: 5_000 });
  t.teardown(() => nc.close());
  return nc;
}

/** Runs fn, which must reject; returns the rejection (the test fails if it resolved). */
async function rejection(fn: () => Promise<unknown>): Promise<unknown> {
  try {
    await fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

/** A conflict as cluster mode will detect it: the JetStream API error code, not the text. */
function isWrongLastSequence(err: unknown): boolean {
  return err instanceof JetStreamApiError && err.code === JetStreamApiCodes.StreamWrongLastSequence;
}

function describe(err: unknown): string {
  if (err instanceof JetStreamApiError) return `JetStreamApiError code ${err.code}: ${err.message}`;
  return err instanceof Error ? `${err.name}: ${err.message}` : String(err);
}

async function until<T>(what: string, timeoutMs: number, check: () => Promise<T | undefined | null | false>, everyMs = 50): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined && v !== null && v !== false) return v;
    if (Date.now() >= deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await sleep(everyMs);
  }
}

const reason = skipReason();
if (reason) {
  t.plan(0, `NATS tests skipped: ${reason}`);
} else {
  t.comment(`nats-server ${natsServerVersion()}`);

  t.test('one server', async (t) => {
    const nats = await startNats(t, { servers: 1, jetstream: true });
    const nc = await client(t, nats.urls, 'primitives');
    const js = jetstream(nc);
    const jsm = await jetstreamManager(nc);
    const kvm = new Kvm(nc);

    t.test('KV create-if-absent: a second create of a key is a conflict; after a delete it is free again', async (t) => {
      const kv = await kvm.create('dir_create', { history: 1 });
      const rev = await kv.create('room.first', enc('node-a'));
      t.ok(rev > 0, `the first create wins (revision ${rev})`);
      const err = await rejection(() => kv.create('room.first', enc('node-b')));
      t.ok(isWrongLastSequence(err), `the second create is refused with code ${JetStreamApiCodes.StreamWrongLastSequence}: ${describe(err)}`);
      t.equal(dec((await kv.get('room.first'))!.value), 'node-a', 'the first owner is kept');
      await kv.delete('room.first');
      const rev2 = await kv.create('room.first', enc('node-b'));
      t.ok(rev2 > rev, `a deleted key can be created again (revision ${rev2})`);
      t.equal(dec((await kv.get('room.first'))!.value), 'node-b', 'by the new owner');
    });

    t.test('KV update by revision: a writer holding a stale revision is refused', async (t) => {
      const kv = await kvm.create('dir_update', { history: 1 });
      const r1 = await kv.put('room.first', enc('v1'));
      const r2 = await kv.update('room.first', enc('v2'), r1);
      t.ok(r2 > r1, `an update at the current revision wins (${r1} → ${r2})`);
      const err = await rejection(() => kv.update('room.first', enc('v2-late'), r1));
      t.ok(isWrongLastSequence(err), `an update at the stale revision ${r1} is refused: ${describe(err)}`);
      const e = await kv.get('room.first');
      t.equal(dec(e!.value), 'v2', 'the value is the winner');
      t.equal(e!.revision, r2, 'at the winner’s revision');
    });

    t.test('KV bucket ttl: an unrenewed key expires, a renewed one stays', async (t) => {
      const TTL_MS = 1_000;
      const kv = await kvm.create('leases', { history: 1, ttl: TTL_MS });
      const started = Date.now();
      await kv.put('node.a', enc('renewed'));
      await kv.put('node.b', enc('abandoned'));
      // Renews node.a well within the ttl until node.b is gone.
      let renewals = 0;
      let stop = false;
      const renewer = (async () => {
        while (!stop) {
          await sleep(TTL_MS / 4);
          await kv.put('node.a', enc('renewed'));
          renewals++;
        }
      })();
      try {
        await until('node.b to expire', 10 * TTL_MS, async () => (await kv.get('node.b')) === null);
      } finally {
        stop = true;
        await renewer;
      }
      const after = Date.now() - started;
      t.ok(after >= TTL_MS, `node.b expired after ${after} ms (ttl ${TTL_MS} ms), not before`);
      t.ok(renewals >= 3, `node.a was renewed meanwhile (${renewals} times)`);
      t.equal(dec((await kv.get('node.a'))!.value), 'renewed', 'node.a, renewed, is still there');
      t.comment(`KV ttl ${TTL_MS} ms: the unrenewed key was gone ${after} ms after its put`);
    });

    t.test('stream publish fenced by expected last sequence: of two writers at the same sequence, the second is refused', async (t) => {
      await jsm.streams.add({ name: 'room_fence', subjects: ['room.fence'] });
      const other = jetstream(await client(t, nats.urls, 'writer-b'));
      const base = (await js.publish('room.fence', enc('base'))).seq;
      // Both writers believe the journal ends at base.
      const a = await js.publish('room.fence', enc('from a'), { expect: { lastSequence: base } });
      t.equal(a.seq, base + 1, 'writer a appends at base + 1');
      const err = await rejection(() => other.publish('room.fence', enc('from b'), { expect: { lastSequence: base } }));
      t.ok(isWrongLastSequence(err), `writer b, still at ${base}, is refused: ${describe(err)}`);
      const info = await jsm.streams.info('room_fence');
      t.equal(info.state.messages, 2, 'nothing of writer b was stored');
      t.equal(info.state.last_seq, a.seq, 'the journal ends at writer a’s message');
      const b = await other.publish('room.fence', enc('from b, again'), { expect: { lastSequence: a.seq } });
      t.equal(b.seq, a.seq + 1, 'writer b, having caught up, appends');
    });

    t.test('a fenced publish repeated with its msgID is a duplicate, not a conflict, even after the journal moved on', async (t) => {
      // A journal writer whose ack was lost retries the same append: the
      // dedupe must answer before the fence, or the retry looks like a rival.
      await jsm.streams.add({ name: 'room_retry', subjects: ['room.retry'] });
      const first = await js.publish('room.retry', enc('say 1'), { msgID: 'n1:1', expect: { lastSequence: 0 } });
      const again = await js.publish('room.retry', enc('say 1'), { msgID: 'n1:1', expect: { lastSequence: 0 } });
      t.ok(again.duplicate && again.seq === first.seq, `the repeat is a duplicate at seq ${first.seq}`);
      await js.publish('room.retry', enc('say 2'), { msgID: 'n1:2', expect: { lastSequence: first.seq } });
      const late = await js.publish('room.retry', enc('say 1'), { msgID: 'n1:1', expect: { lastSequence: 0 } });
      t.ok(late.duplicate && late.seq === first.seq, 'still a duplicate at its first seq after another append');
      const err = await rejection(() => js.publish('room.retry', enc('say 3'), { msgID: 'n1:3', expect: { lastSequence: 0 } }));
      t.ok(isWrongLastSequence(err), `while a new msgID at the stale sequence is refused: ${describe(err)}`);
      t.equal((await jsm.streams.info('room_retry')).state.messages, 2, 'two messages stored');
    });

    t.test('publish rate: one awaited at a time, and pipelined', async (t) => {
      // Why a journal writer pipelines: each awaited publish is a round trip.
      const N = 2_000;
      await jsm.streams.add({ name: 'room_rate', subjects: ['room.rate'] });
      let t0 = Date.now();
      for (let i = 0; i < N; i++) await js.publish('room.rate', enc(String(i)));
      const serialMs = Math.max(1, Date.now() - t0);
      t0 = Date.now();
      const acks = await Promise.all(Array.from({ length: N }, (_, i) => js.publish('room.rate', enc(String(N + i)))));
      const pipelinedMs = Math.max(1, Date.now() - t0);
      t.same(
        acks.map((a) => a.seq),
        Array.from({ length: N }, (_, i) => N + i + 1),
        'pipelined publishes are stored in the order sent',
      );
      const serial = Math.round((N * 1000) / serialMs);
      const pipelined = Math.round((N * 1000) / pipelinedMs);
      t.ok(pipelined > serial, `pipelined is faster (${pipelined}/s against ${serial}/s)`);
      t.comment(`one server, ${N} publishes: one at a time ${serial}/s, all in flight ${pipelined}/s`);
    });

    t.test('stream publish with a msgID: a repeat is acknowledged as a duplicate and stored once', async (t) => {
      await jsm.streams.add({ name: 'room_dedupe', subjects: ['room.dedupe'] });
      const first = await js.publish('room.dedupe', enc('hello'), { msgID: 'member-1:42' });
      const again = await js.publish('room.dedupe', enc('hello'), { msgID: 'member-1:42' });
      t.notOk(first.duplicate, 'the first is not a duplicate');
      t.ok(again.duplicate, 'the repeat is a duplicate');
      t.equal(again.seq, first.seq, 'acknowledged at the first one’s sequence');
      const other = await js.publish('room.dedupe', enc('hello'), { msgID: 'member-1:43' });
      t.notOk(other.duplicate, 'another msgID is stored');
      t.equal((await jsm.streams.info('room_dedupe')).state.messages, 2, 'two messages stored');
    });
  });

  // The writer on a follower sees only the election; on the leader, also
  // its connection's loss and reconnection to another server.
  for (const writerOn of ['a follower', 'the leader'] as const) {
    t.test(`three servers, R3: SIGKILL of the stream leader while publishing, the writer connected to ${writerOn}`, async (t) => {
      const nats = await startNats(t, { servers: 3, jetstream: true });
      t.equal(nats.servers.length, 3, 'three servers');
      await leaderKill(t, nats, writerOn);
    });
  }
}

// How many publishes are in flight at once, and how long one waits for its ack before it is sent again.
const WINDOW = 64;
const ACK_TIMEOUT_MS = 1_000;
const TOTAL = 6_000;
const KILL_AFTER_ACKS = 1_500;

async function leaderKill(t: Test, nats: NatsCluster, writerOn: 'a follower' | 'the leader'): Promise<void> {
  const admin = await client(t, nats.urls, 'admin');
  const jsm: JetStreamManager = await jetstreamManager(admin);
  await jsm.streams.add({ name: 'room_journal', subjects: ['room.journal'], num_replicas: 3 });
  const leaderName = await until('a stream leader', 15_000, async () => (await jsm.streams.info('room_journal')).cluster?.leader);
  const leader = nats.servers.find((s) => s.name === leaderName);
  t.ok(leader, `the stream leader is one of ours (${leaderName})`);
  const first = writerOn === 'the leader' ? leader! : nats.servers.find((s) => s !== leader)!;
  const nc = await client(t, [first.url, ...nats.urls.filter((u) => u !== first.url)], 'journal-writer', true);
  t.equal(nc.info?.server_name, first.name, `the writer is connected to ${writerOn} (${first.name})`);
  const js: JetStreamClient = jetstream(nc);

  const acked = new Map<number, PubAck>(); // message index → its ack
  const ackTimes: number[] = [];
  let retries = 0;
  let duplicates = 0;
  const errors = new Map<string, number>();
  let killedAt = 0;
  // Acks of publishes already in flight still arrive just after the kill: the pause ends with the first ack of one sent after it.
  let firstAckSentAfterKill: number | undefined;
  let killing: Promise<void> | undefined;
  let next = 0;
  const deadline = Date.now() + 40_000;
  const started = Date.now();
  let beforeKillMs = 0;

  const send = async (i: number): Promise<void> => {
    for (;;) {
      if (Date.now() > deadline) throw new Error(`message ${i} not acknowledged by the deadline`);
      const sentAt = Date.now();
      try {
        const ack = await js.publish('room.journal', enc(String(i)), { msgID: `m-${i}`, timeout: ACK_TIMEOUT_MS });
        acked.set(i, ack);
        ackTimes.push(Date.now());
        if (killedAt > 0 && sentAt > killedAt) firstAckSentAfterKill ??= Date.now();
        if (ack.duplicate) duplicates++;
        if (acked.size === KILL_AFTER_ACKS && !killing) {
          killedAt = Date.now();
          beforeKillMs = killedAt - started;
          killing = leader!.kill('SIGKILL');
        }
        return;
      } catch (err) {
        retries++;
        const kind = err instanceof JetStreamApiError ? `api ${err.code}` : (err as Error).name + ': ' + (err as Error).message.slice(0, 60);
        errors.set(kind, (errors.get(kind) ?? 0) + 1);
        // The same msgID again: stored once whether or not the lost attempt was.
        await sleep(50);
      }
    }
  };
  const worker = async () => {
    while (next < TOTAL) await send(next++);
  };
  await Promise.all(Array.from({ length: WINDOW }, worker));
  const elapsed = Date.now() - started;
  await killing;

  t.ok(killedAt > 0, 'the leader was killed while publishing');
  t.equal(acked.size, TOTAL, `every publish was acknowledged in the end (${TOTAL})`);
  t.ok(firstAckSentAfterKill, 'publishes sent after the kill were acknowledged');
  const pauseMs = (firstAckSentAfterKill ?? NaN) - killedAt;
  let maxGap = 0;
  for (let k = 1; k < ackTimes.length; k++) maxGap = Math.max(maxGap, ackTimes[k]! - ackTimes[k - 1]!);

  const info = await jsm.streams.info('room_journal');
  t.not(info.cluster?.leader, leaderName, `a new leader was elected (${info.cluster?.leader})`);

  // Read the journal back: each index once, each at the sequence its ack gave.
  t.equal(info.state.messages, TOTAL, `the journal holds exactly ${TOTAL} messages`);
  const bySeq = new Map<number, string>();
  for (let seq = info.state.first_seq; seq <= info.state.last_seq; seq += 200) {
    const batch = await Promise.all(
      Array.from({ length: Math.min(200, info.state.last_seq - seq + 1) }, (_, k) => jsm.streams.getMessage('room_journal', { seq: seq + k })),
    );
    batch.forEach((m, k) => m && bySeq.set(seq + k, dec(m.data)));
  }
  const counts = new Map<string, number>();
  for (const v of bySeq.values()) counts.set(v, (counts.get(v) ?? 0) + 1);
  const twice = [...counts].filter(([, c]) => c > 1).map(([v]) => v);
  const lost = [...acked].filter(([i, ack]) => bySeq.get(ack.seq) !== String(i)).map(([i]) => i);
  t.same(twice.slice(0, 10), [], 'no message stored twice');
  t.same(lost.slice(0, 10), [], 'every acknowledged message is in the journal at its acknowledged sequence');

  t.comment(
    `writer on ${writerOn}: ${TOTAL} publishes, ${WINDOW} in flight, ack timeout ${ACK_TIMEOUT_MS} ms: ${elapsed} ms in all; ` +
      `leader ${leaderName} SIGKILLed after ${KILL_AFTER_ACKS} acks ` +
      `(in ${beforeKillMs} ms, ${Math.round((KILL_AFTER_ACKS * 1000) / beforeKillMs)}/s); writes resumed ${pauseMs} ms after the kill (first ack of a publish sent after it), ` +
      `longest gap between acks ${maxGap} ms; ${retries} retries, ${duplicates} acked as duplicates; new leader ${info.cluster?.leader}; ` +
      `errors: ${[...errors].map(([k, v]) => `${k} ×${v}`).join(', ')}`,
  );
  t.ok(pauseMs < 30_000, `writes resumed within 30 s (${pauseMs} ms)`);

  // The killed server comes back on its store and catches up.
  const restartedAt = Date.now();
  await leader!.restart();
  const healthyMs = Date.now() - restartedAt;
  const caughtUp = await until(`${leaderName} to hold all ${TOTAL} messages`, 20_000, async () => {
    const res = await fetch(`${leader!.monitorUrl}/jsz?streams=true`, { signal: AbortSignal.timeout(2_000) });
    const jsz = (await res.json()) as { account_details?: { stream_detail?: { name: string; state: { messages: number; last_seq: number } }[] }[] };
    const s = jsz.account_details?.flatMap((a) => a.stream_detail ?? []).find((d) => d.name === 'room_journal');
    return s && s.state.messages === TOTAL && s.state.last_seq === info.state.last_seq ? Date.now() - restartedAt : undefined;
  });
  const peer = await until(`${leaderName} to be a current replica again`, 20_000, async () => {
    const replicas = (await jsm.streams.info('room_journal')).cluster?.replicas ?? [];
    return replicas.find((r) => r.name === leaderName && r.current && !r.offline);
  });
  t.ok(peer, `${leaderName} is a current replica of the stream again`);
  t.comment(`${leaderName} restarted: healthy after ${healthyMs} ms, holding all ${TOTAL} messages after ${caughtUp} ms`);
  const fenced = { msgID: 'after', expect: { lastSequence: info.state.last_seq }, timeout: 5_000 };
  const last = await js.publish('room.journal', enc('after the rejoin'), fenced);
  t.equal(last.seq, info.state.last_seq + 1, 'the journal goes on after the rejoin, fenced');
  // The dedupe-before-fence order, on a replicated stream too.
  const retried = await js.publish('room.journal', enc('after the rejoin'), fenced);
  t.ok(retried.duplicate && retried.seq === last.seq, 'a fenced publish repeated with its msgID is a duplicate on R3 as well');
}
