// Bad input end to end: each kind gets its documented error (or is dropped
// within the reply budget) while the good clients keep chatting.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

t.test('bad datagrams get their documented errors and good clients keep chatting', async (t) => {
  const d = await startChatd(t);
  const good = await RawClient.open(t);
  const peer = await RawClient.open(t);
  const bad = await RawClient.open(t);
  const mg = await good.join(d.port, 'calm', 'good');
  const mp = await peer.join(d.port, 'calm', 'peer');

  const control: Array<[string, string | Buffer, string]> = [
    ['malformed JSON', '{"type":"ping","id":"x"', 'BAD_REQUEST'],
    ['two objects in one datagram', '{"type":"ping","id":"a"}{"type":"ping","id":"b"}', 'BAD_REQUEST'],
    ['not an object', '["type","ping","id","long enough to be answered"]', 'BAD_REQUEST'],
    ['unknown type', '{"type":"dance","id":"long-enough-id"}', 'BAD_REQUEST'],
    ['missing type', '{"id":"some-id","room":"first"}', 'BAD_REQUEST'],
    ['wrong field type', '{"type":"join","id":"w","room":7,"nick":"x"}', 'BAD_REQUEST'],
    ['id too long', JSON.stringify({ type: 'ping', id: 'i'.repeat(65) }), 'BAD_REQUEST'],
    ['invalid UTF-8', Buffer.concat([Buffer.from('{"type":"ping","id":"'), Buffer.from([0xc3, 0x28]), Buffer.from('"}')]), 'BAD_REQUEST'],
    ['oversized', JSON.stringify({ type: 'ping', id: 'o', pad: 'p'.repeat(1200) }), 'TOO_LARGE'],
  ];
  for (const [name, payload, code] of control) {
    bad.send(payload, d.port);
    const e = await bad.next((o) => o['type'] === 'error', 3_000, name);
    t.equal(e['code'], code, `control: ${name} -> ${code}`);
    t.ok(Buffer.byteLength(JSON.stringify(e)) - 20 <= 3 * Buffer.byteLength(payload), `control: ${name} reply within 3x`);
  }
  bad.send('{', d.port);
  t.match(await bad.request({ type: 'ping', id: 'after-garbage' }, d.port), { type: 'pong' });
  t.notOk(bad.received.some((o) => o['type'] === 'error'), 'tiny garbage is dropped silently: no error can fit 3x one byte');
  t.match(await bad.request({ type: 'join', id: 'w2', room: 'calm', nick: 5 }, d.port), { code: 'BAD_REQUEST', id: 'w2' }, 'a wrong type names the request id');

  const exactly = JSON.stringify({ type: 'ping', id: 'edge', pad: '' });
  const padded = exactly.replace('"pad":""', `"pad":"${'x'.repeat(1200 - Buffer.byteLength(exactly))}"`);
  t.equal(Buffer.byteLength(padded), 1200);
  t.match(await bad.request(JSON.parse(padded), d.port), { type: 'pong', id: 'edge' }, 'a datagram of exactly the limit is accepted');

  const room: Array<[string, object | string, string]> = [
    ['no token', { type: 'hb', note: 'no token here but long enough' }, 'BAD_REQUEST'],
    ['token of the wrong type', '{"type":"hb","token":7,"note":"x"}', 'BAD_REQUEST'],
    ['unknown token', { type: 'hb', token: 'x'.repeat(24) }, 'NOT_MEMBER'],
    ['malformed JSON', '{"type":"hb","token":', 'BAD_REQUEST'],
  ];
  for (const [name, payload, code] of room) {
    bad.send(payload, mg.port);
    const e = await bad.next((o) => o['type'] === 'error', 3_000, name);
    t.equal(e['code'], code, `room: ${name} -> ${code}`);
  }
  // A valid token from another endpoint is challenged (protocol "Address changes"), never obeyed.
  bad.send({ type: 'say', token: mg.token, id: 'steal', text: 'I am good' }, mg.port);
  t.match(await bad.next((o) => o['type'] === 'challenge', 3_000, 'challenge'), { room: mg.room, nonce: String }, 'room: token from another endpoint -> challenge');
  good.send({ type: 'say', token: mg.token, id: 'bad-field', text: 42 }, mg.port);
  t.match(await good.next((o) => o['type'] === 'error'), { code: 'BAD_REQUEST', id: 'bad-field' }, 'a member with a bad field gets BAD_REQUEST');
  good.send({ type: 'wave', token: mg.token }, mg.port);
  t.match(await good.next((o) => o['type'] === 'error'), { code: 'BAD_REQUEST' }, 'unknown type with a valid token');

  good.send({ type: 'say', token: mg.token, id: 'still', text: 'still here' }, mg.port);
  t.match(await peer.next((o) => o['type'] === 'msg' && o['id'] === 'still'), { text: 'still here', nick: 'good' }, 'the service kept serving');
  t.notOk(peer.received.some((o) => o['type'] === 'msg' && o['id'] === 'steal'), 'the spoofed say was not delivered');
  await d.waitLog((l) => l.event === 'challenge_sent', 3_000, 'challenge logged');
  t.notOk(d.logs.some((l) => JSON.stringify(l).includes(mg.token) || JSON.stringify(l).includes(mp.token)), 'no token in any log line');
  t.notOk(d.logs.some((l) => l.event === 'room_exit'), 'no room crashed');
});
