// Control-plane limits end to end, per source address. Loopback addresses
// other than 127.0.0.1 stand in for other hosts.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

t.test('joins of existing rooms and room creations are limited per address, apart; over either, RATE_LIMITED; other addresses are unaffected', async (t) => {
  const d = await startChatd(t, { joinBurst: 2, joinRatePerSec: 0.01, roomCreateBurst: 2, roomCreateRatePerSec: 0.01 });
  const a = await RawClient.open(t);
  await a.join(d.port, 'r1', 'ann', '1');
  t.pass('a new room');
  t.match(await a.request({ type: 'join', id: '2', room: 'r2', nick: 'ann' }, d.port), { type: 'joined' }, 'a second new room');
  t.match(await a.request({ type: 'join', id: '3', room: 'r3', nick: 'ann' }, d.port), { type: 'error', code: 'RATE_LIMITED', id: '3' }, 'a third new room from one address');
  t.match(await a.request({ type: 'join', id: '3', room: 'r3', nick: 'ann' }, d.port), { code: 'RATE_LIMITED' }, 'a refusal is not remembered: the retry is evaluated again');
  const a2 = await RawClient.open(t);
  t.match(await a2.request({ type: 'join', id: '4', room: 'r1', nick: 'ann2' }, d.port), { type: 'joined' }, 'joins of existing rooms are counted apart from creations');
  t.match(await a2.request({ type: 'join', id: '5', room: 'r2', nick: 'ann2' }, d.port), { type: 'joined' });
  const a3 = await RawClient.open(t);
  t.match(await a3.request({ type: 'join', id: '6', room: 'r1', nick: 'ann3' }, d.port), { code: 'RATE_LIMITED' }, 'the third join of an existing room from one address');
  const b = await RawClient.open(t, '127.0.0.2');
  t.match(await b.request({ type: 'join', id: '1', room: 'r3', nick: 'bob' }, d.port), { type: 'joined' }, 'another address has its own budget');
  t.match(await a.request({ type: 'join', id: '7', room: 'r1', nick: 'ann' }, d.port), { code: 'ALREADY_JOINED' }, 'other refusals still come first (precedence)');
});

t.test('memberships that have not proven their address are capped per address; a crowd that proves itself is not', async (t) => {
  const d = await startChatd(t, { maxUnprovenPerAddress: 2, errorReplyBurst: 1, errorReplyRatePerSec: 0.1 });
  const owner = await RawClient.open(t);
  await owner.join(d.port, 'hall', 'owner');
  // Forged-looking joins from 127.0.0.7: granted, never proven.
  const ghosts = await Promise.all([1, 2, 3, 4].map(() => RawClient.open(t, '127.0.0.7')));
  t.match(await ghosts[0]!.request({ type: 'join', id: 'g', room: 'hall', nick: 'g0' }, d.port), { type: 'joined' });
  t.match(await ghosts[1]!.request({ type: 'join', id: 'g', room: 'hall', nick: 'g1' }, d.port), { type: 'joined' });
  t.match(await ghosts[2]!.request({ type: 'join', id: 'g', room: 'hall', nick: 'g2' }, d.port), { type: 'error', code: 'RATE_LIMITED' }, 'a third unproven membership from one address');
  t.match(await ghosts[3]!.request({ type: 'join', id: 'g', room: 'hall', nick: 'g3' }, d.port), { code: 'RATE_LIMITED' }, 'answered past the error-reply budget too: RATE_LIMITED is not silence');
  t.match(await ghosts[2]!.request({ type: 'join', id: 'h', room: 'hall', nick: 'g2' }, d.port), { code: 'RATE_LIMITED' });
  const other = await RawClient.open(t, '127.0.0.9');
  await other.join(d.port, 'hall', 'other');
  t.pass('another address is not affected');
  // Clients that prove themselves (hb after joined) free their slot at once.
  const crowd = await Promise.all([1, 2, 3, 4, 5, 6].map(() => RawClient.open(t, '127.0.0.11')));
  for (const [i, c] of crowd.entries()) await c.join(d.port, 'hall', `c${i}`);
  t.pass('six proven joins in a row from one address, under a cap of two');
});

t.test('addresses in limitExemptCidrs skip the per-address limits; others keep them', async (t) => {
  const d = await startChatd(t, { joinBurst: 1, joinRatePerSec: 0.01, controlBurst: 5, controlRatePerSec: 0.1, limitExemptCidrs: ['127.0.0.64/30'] });
  const owner = await RawClient.open(t, '127.0.0.68');
  await owner.join(d.port, 'hall', 'owner', 'o'); // creation has its own budget
  const office = await Promise.all([1, 2, 3, 4].map(() => RawClient.open(t, '127.0.0.65')));
  for (const [i, c] of office.entries()) t.match(await c.request({ type: 'join', id: 'j', room: 'hall', nick: `o${i}` }, d.port), { type: 'joined' }, `exempt join ${i + 1}`);
  for (let i = 0; i < 10; i++) t.match(await office[0]!.request({ type: 'ping', id: `p${i}` }, d.port), { type: 'pong' });
  t.pass('exempt pings past the control burst');
  const outside = await Promise.all([1, 2].map(() => RawClient.open(t, '127.0.0.68')));
  t.match(await outside[0]!.request({ type: 'join', id: 'j', room: 'hall', nick: 'x0' }, d.port), { type: 'joined' });
  t.match(await outside[1]!.request({ type: 'join', id: 'j', room: 'hall', nick: 'x1' }, d.port), { code: 'RATE_LIMITED' }, 'an address outside the list is limited');
});

t.test('a key guesser gets a few BAD_KEY answers, then nothing: its guesses are not evaluated', async (t) => {
  const d = await startChatd(t, { badKeyBurst: 2, badKeyRatePerSec: 0.001 });
  const owner = await RawClient.open(t);
  t.match(await owner.request({ type: 'join', id: 'o', room: 'vault', nick: 'owner', key: 'right' }, d.port), { type: 'joined' });
  const g = await RawClient.open(t, '127.0.0.3');
  t.match(await g.request({ type: 'join', id: 'g1', room: 'vault', nick: 'g', key: 'guess1' }, d.port), { code: 'BAD_KEY' });
  t.match(await g.request({ type: 'join', id: 'g2', room: 'vault', nick: 'g', key: 'guess2' }, d.port), { code: 'BAD_KEY' });
  g.send({ type: 'join', id: 'g3', room: 'vault', nick: 'g', key: 'right' }, d.port);
  await d.waitLog((l) => l.event === 'key_guessing', 5_000, 'key_guessing log');
  t.match(await g.request({ type: 'ping', id: 'p' }, d.port), { type: 'pong' }, 'the guesser still gets other answers');
  t.notOk(g.received.some((o) => o['id'] === 'g3'), 'even the right key was not evaluated for the guesser');
  const friend = await RawClient.open(t, '127.0.0.4');
  t.match(await friend.request({ type: 'join', id: 'f', room: 'vault', nick: 'friend', key: 'right' }, d.port), { type: 'joined' }, 'others with the key get in');
  t.notOk(JSON.stringify(d.logs).includes('right'), 'the key never appears in the logs');
});

t.test('a control-port flood from one address is dropped past its burst; others are served', async (t) => {
  const d = await startChatd(t, { controlBurst: 20, controlRatePerSec: 1 });
  const flooder = await RawClient.open(t, '127.0.0.5');
  for (let i = 0; i < 200; i++) flooder.send({ type: 'ping', id: `f${i}` }, d.port);
  await d.waitLog((l) => l.event === 'control_flood', 5_000, 'control_flood log');
  const good = await RawClient.open(t, '127.0.0.6');
  t.match(await good.request({ type: 'ping', id: 'g' }, d.port), { type: 'pong' }, 'another address is served');
  const pongs = flooder.received.filter((o) => o['type'] === 'pong').length;
  t.ok(pongs >= 15 && pongs <= 25, `the flooder got about its burst of answers (${pongs} of 200)`);
});
