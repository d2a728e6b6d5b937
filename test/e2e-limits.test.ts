// Control-plane limits end to end, per source address. Loopback addresses
// other than 127.0.0.1 stand in for other hosts.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

t.test('joins and room creations over the per-address rate get RATE_LIMITED; other addresses are unaffected', async (t) => {
  const d = await startChatd(t, { joinBurst: 3, joinRatePerSec: 0.01, roomCreateBurst: 2, roomCreateRatePerSec: 0.01 });
  const a = await RawClient.open(t);
  t.match(await a.request({ type: 'join', id: '1', room: 'r1', nick: 'ann' }, d.port), { type: 'joined' });
  t.match(await a.request({ type: 'join', id: '2', room: 'r2', nick: 'ann' }, d.port), { type: 'joined' });
  t.match(await a.request({ type: 'join', id: '3', room: 'r3', nick: 'ann' }, d.port), { type: 'error', code: 'RATE_LIMITED', id: '3' }, 'a third new room from one address');
  t.match(await a.request({ type: 'join', id: '3', room: 'r3', nick: 'ann' }, d.port), { code: 'RATE_LIMITED' }, 'a refusal is not remembered: the retry is evaluated again');
  const a2 = await RawClient.open(t);
  t.match(await a2.request({ type: 'join', id: '4', room: 'r1', nick: 'ann2' }, d.port), { type: 'joined' }, 'joining an existing room needs no creation token');
  t.match(await a2.request({ type: 'join', id: '5', room: 'r2', nick: 'ann2' }, d.port), { code: 'RATE_LIMITED' }, 'the fourth successful join from one address');
  const b = await RawClient.open(t, '127.0.0.2');
  t.match(await b.request({ type: 'join', id: '1', room: 'r3', nick: 'bob' }, d.port), { type: 'joined' }, 'another address has its own budget');
  t.match(await a.request({ type: 'join', id: '6', room: 'r1', nick: 'ann' }, d.port), { code: 'ALREADY_JOINED' }, 'other refusals still come first (precedence)');
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
