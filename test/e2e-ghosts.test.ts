// Joins answered after their clients gave up, end to end: the supervisor is
// stopped (a real SIGSTOP) while joins are on their way and continued
// (SIGCONT) after the clients stopped waiting, so the service grants
// memberships nobody takes up. None of them may linger as a ghost: a fresh
// join from the same endpoint replaces one (protocol "An unproven
// membership is replaced, not defended"), one never taken up is evicted
// within unprovenTimeoutMs, and the client library adopts a late `joined`
// while it still wants the room and hands it back at once when it does not.
import t from 'tap';
import { ChatClient, type PresenceEvent } from '../client/chat-client.js';
import { DEFAULTS } from '../lib/config.js';
import { startChatd, type Chatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

const ROOM = 'ghosts';
/** How long the supervisor stays stopped: longer than the clients below wait for one join request. */
const STOPPED_MS = 1_500;
/** Eviction of a membership never taken up: unprovenTimeoutMs, plus the sweep (every half of it), plus slack for a loaded machine. */
const UNPROVEN_EVICTED_WITHIN_MS = DEFAULTS.unprovenTimeoutMs * 1.5 + 1_500;

/** Stops the supervisor, runs fn while it is stopped, keeps it stopped for STOPPED_MS in all, continues it (also if fn throws). */
async function whileStopped(d: Chatd, fn: () => void | Promise<void>): Promise<void> {
  process.kill(d.pid, 'SIGSTOP');
  try {
    const until = performance.now() + STOPPED_MS;
    await fn();
    const left = until - performance.now();
    if (left > 0) await new Promise((r) => setTimeout(r, left));
  } finally {
    process.kill(d.pid, 'SIGCONT');
  }
}

/** Resolves with the first presence event matching pred (seen before or after the call), or rejects after timeoutMs. */
function presenceOf(seen: PresenceEvent[], c: ChatClient, pred: (p: PresenceEvent) => boolean, timeoutMs: number, what: string): Promise<PresenceEvent> {
  const hit = seen.find(pred);
  if (hit) return Promise.resolve(hit);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      c.off('presence', on);
      reject(new Error(`no ${what} within ${timeoutMs} ms`));
    }, timeoutMs);
    const on = (p: PresenceEvent) => {
      if (!pred(p)) return;
      clearTimeout(timer);
      c.off('presence', on);
      resolve(p);
    };
    c.on('presence', on);
  });
}

async function watch(t: { teardown(fn: () => unknown): void }, d: Chatd): Promise<{ watcher: ChatClient; seen: PresenceEvent[] }> {
  const watcher = new ChatClient({ host: '127.0.0.1', port: d.port });
  t.teardown(() => watcher.close({ leave: false }));
  const seen: PresenceEvent[] = [];
  watcher.on('presence', (p) => seen.push(p));
  await watcher.join(ROOM, 'watcher');
  return { watcher, seen };
}

/** The room's count in `rooms` and its roster's nicks, as the watcher sees them. */
async function census(watcher: ChatClient): Promise<{ members: number | undefined; nicks: string[] }> {
  const members = (await watcher.rooms()).find((r) => r.room === ROOM)?.members;
  const nicks = (await watcher.who(ROOM)).map((m) => m.nick).sort();
  return { members, nicks };
}

t.test('joins granted after their clients gave up: replaced by the next join from the endpoint, or evicted unproven within seconds', async (t) => {
  const d = await startChatd(t);
  const { watcher, seen } = await watch(t, d);
  const ann = await RawClient.open(t);
  const bob = await RawClient.open(t);

  await whileStopped(d, () => {
    // Each sends one join and gives up on it: neither takes up what comes back.
    ann.send({ type: 'join', id: 'a1', room: ROOM, nick: 'ann' }, d.port);
    bob.send({ type: 'join', id: 'b1', room: ROOM, nick: 'bob' }, d.port);
  });
  const a1 = await ann.next((o) => o['id'] === 'a1', 15_000, 'the late answer to a1');
  const b1 = await bob.next((o) => o['id'] === 'b1', 15_000, 'the late answer to b1');
  const grantedAt = performance.now();
  t.match(a1, { type: 'joined' }, 'the service still granted ann a membership');
  t.match(b1, { type: 'joined' }, 'and bob one');

  // Ann tries again, as a client that gave up does: a new id, the same endpoint and nick.
  const a2 = await ann.request({ type: 'join', id: 'a2', room: ROOM, nick: 'ann' }, d.port);
  t.match(a2, { type: 'joined', nick: 'ann' }, 'a fresh join from the same endpoint succeeds: the unproven membership is replaced, not defended');
  t.not(a2['member'], a1['member'], 'under a new membership');
  ann.send({ type: 'hb', token: a2['token'] }, a2['port'] as number);
  await ann.next((o) => o['type'] === 'hb' && o['room'] === ROOM, 15_000, 'the hb reply of the new membership');
  const left = await presenceOf(seen, watcher, (p) => p.member === a1['member'] && p.event !== 'join', 5_000, 'the end of the replaced membership');
  t.equal(left.event, 'leave', 'the others see the replaced membership leave');
  ann.send({ type: 'hb', token: a1['token'] }, a1['port'] as number);
  t.match(await ann.next((o) => o['type'] === 'error', 5_000, 'the answer to the old token'), { code: 'NOT_MEMBER' }, 'the old token is gone');
  const again = await ann.request({ type: 'join', id: 'a3', room: ROOM, nick: 'ann' }, d.port);
  t.match(again, { type: 'error', code: 'ALREADY_JOINED' }, 'a proven membership is defended');

  // Bob never comes back: his membership never proves its address.
  const evicted = await presenceOf(seen, watcher, (p) => p.member === b1['member'] && p.event !== 'join', UNPROVEN_EVICTED_WITHIN_MS + 2_000, "the end of bob's membership");
  const afterMs = performance.now() - grantedAt;
  t.equal(evicted.event, 'evict', 'the others see it evicted');
  t.ok(afterMs <= UNPROVEN_EVICTED_WITHIN_MS, `evicted ${afterMs.toFixed(0)} ms after it was granted (<= ${UNPROVEN_EVICTED_WITHIN_MS}; a silent proven member lasts ${DEFAULTS.heartbeatMs * DEFAULTS.heartbeatMisses} ms)`);
  await d.waitLog((l) => l.event === 'member_evicted' && l['member'] === b1['member'] && l['component'] === 'supervisor', 5_000, "the supervisor's eviction of bob");
  t.same(await census(watcher), { members: 2, nicks: ['ann', 'watcher'] }, '`rooms` and `who` count the watcher and ann, once each');
  const fresh = await bob.request({ type: 'join', id: 'b2', room: ROOM, nick: 'bob' }, d.port);
  t.match(fresh, { type: 'joined', nick: 'bob' }, 'bob can join again');
});

t.test('the client library adopts a late joined while it still wants the room, and hands one back at once when it does not', async (t) => {
  const d = await startChatd(t);
  const { watcher, seen } = await watch(t, d);
  // Each join request gives up after 3 sends, 700 ms; cat's join() goes on with new requests, dog's gives up with its first.
  const quick = { host: '127.0.0.1', port: d.port, retryInitialMs: 100, maxAttempts: 3 };
  const cat = new ChatClient({ ...quick, joinAttempts: 20 });
  const dog = new ChatClient({ ...quick, joinAttempts: 1 });
  t.teardown(() => cat.close({ leave: false }));
  t.teardown(() => dog.close({ leave: false }));
  await Promise.all([cat.ready(), dog.ready()]);

  let catJoin: Promise<unknown> | undefined;
  let dogJoin: Promise<unknown> | undefined;
  await whileStopped(d, async () => {
    catJoin = cat.join(ROOM, 'cat');
    dogJoin = dog.join(ROOM, 'dog');
    await t.rejects(dogJoin, { code: 'TIMEOUT' }, 'dog gives up while the supervisor is stopped');
  });
  const catInfo = await catJoin;
  t.ok(catInfo, 'cat is in');

  // Dog's late membership: handed back with a leave, not left to be evicted.
  const dogJoined = await presenceOf(seen, watcher, (p) => p.nick === 'dog' && p.event === 'join', 10_000, "dog's late membership");
  const dogGone = await presenceOf(seen, watcher, (p) => p.member === dogJoined.member && p.event !== 'join', 5_000, 'the end of it');
  t.equal(dogGone.event, 'leave', 'dog handed the membership back at once (a leave, not an eviction)');
  t.same(dog.joinedRooms(), [], 'dog is in no room');

  // Cat: whichever of its memberships the service kept, the client holds that one and only that one.
  const heard = new Promise<string>((resolve) => watcher.on('message', (m) => m.nick === 'cat' && resolve(m.text)));
  await cat.say(ROOM, 'meow');
  t.equal(await heard, 'meow', "cat's membership is the live one");
  t.same(await census(watcher), { members: 2, nicks: ['cat', 'watcher'] }, '`rooms` and `who` count the watcher and cat, once each');
  t.notOk(seen.some((p) => p.event === 'evict'), 'nobody was evicted');
  t.comment(`the watcher saw: ${seen.map((p) => `${p.nick} ${p.event}`).join(', ')}`);
});
