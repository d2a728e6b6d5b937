// protocol "Details: Size": a successful joined is at most 512 bytes or 3x
// the join, whichever is larger. Checked against the real service with the
// largest fields the rules allow.
import t from 'tap';
import { startChatd } from './helpers/chatd.js';
import { RawClient } from './helpers/raw-client.js';

t.test('the largest valid join gets a joined of at most 512 bytes', async (t) => {
  const d = await startChatd(t);
  const c = await RawClient.open(t);
  const biggest = [
    { id: 'i'.repeat(64), room: 'r'.repeat(64), nick: '\u{1F600}'.repeat(32), what: '4-byte nick' },
    { id: 'j'.repeat(64), room: 's'.repeat(64), nick: '"\\'.repeat(16), what: 'nick of characters JSON escapes' },
  ];
  for (const b of biggest) {
    const join = JSON.stringify({ type: 'join', id: b.id, room: b.room, nick: b.nick });
    c.send(join, d.port);
    const got = await c.next((o) => o['id'] === b.id);
    t.equal(got['type'], 'joined', b.what);
    const { fromPort: _, ...reply } = got;
    const bytes = Buffer.byteLength(JSON.stringify(reply));
    t.ok(bytes <= 512, `${b.what}: joined is ${bytes} bytes`);
  }
});

t.test('a join whose id needs escaping still gets its joined (within 3x the join)', async (t) => {
  const d = await startChatd(t);
  const c = await RawClient.open(t);
  const id = '\u0001'.repeat(64); // 6 bytes each on the wire, both ways
  const join = JSON.stringify({ type: 'join', id, room: 'r'.repeat(64), nick: '\u{1F600}'.repeat(32) });
  c.send(join, d.port);
  const got = await c.next((o) => o['id'] === id);
  const { fromPort: _, ...reply } = got;
  const bytes = Buffer.byteLength(JSON.stringify(reply));
  t.equal(got['type'], 'joined', JSON.stringify(reply));
  t.ok(bytes > 512 && bytes <= 3 * Buffer.byteLength(join), `joined of ${bytes} bytes for a join of ${Buffer.byteLength(join)}`);
});
