// The supervisor's side of address changes (protocol "Address changes"):
// the control endpoint accepts a member's token from the endpoint that
// joined or from the one it moved to, and a restarted room is told where
// the member is now.
import { hashToken } from '../lib/tokens.js';
import t from 'tap';
import { LocalRegistry } from '../supervisor/registry.js';
import type { SupMember } from '../supervisor/room-entry.js';

const TOKEN = 't'.repeat(24);

function setup() {
  const subs: string[] = [];
  const registry = new LocalRegistry({ sub: (a) => subs.push(a) });
  const entry = registry.create('lobby', undefined, '/nowhere.jsonl');
  const m: SupMember = { member: 'm1', nick: 'ann', nickKey: 'ann', tokenHash: hashToken(TOKEN), address: '10.0.0.1', port: 4000, endpoint: '10.0.0.1:4000', via: 0, proven: true };
  registry.addMember(entry, m);
  return { registry, entry, m, subs };
}

t.test('the token is accepted from the endpoint that joined and from the one it moved to, nowhere else', async (t) => {
  const { registry, entry, m } = setup();
  t.equal(entry.authenticate('10.0.0.1:4000', TOKEN), m, 'the endpoint that joined');
  t.equal(entry.authenticate('10.0.0.9:5000', TOKEN), undefined, 'not yet moved there');
  registry.moveMember(entry, m, { address: '10.0.0.9', port: 5000 });
  t.equal(entry.authenticate('10.0.0.9:5000', TOKEN), m, 'the endpoint it moved to');
  t.equal(entry.authenticate('10.0.0.1:4000', TOKEN), m, 'still the endpoint that joined');
  t.equal(entry.authenticate('10.0.0.9:5000', 'x'.repeat(24)), undefined, 'a wrong token is wrong anywhere');
  registry.moveMember(entry, m, { address: '10.0.0.9', port: 6000 });
  t.equal(entry.authenticate('10.0.0.9:5000', TOKEN), undefined, 'an endpoint it moved away from is forgotten');
  t.equal(entry.authenticate('10.0.0.9:6000', TOKEN), m);
  t.same(entry.records().map((r) => [r.address, r.port]), [['10.0.0.9', 6000]], 'a restarted room finds it where it is now');
  registry.moveMember(entry, m, { address: '10.0.0.1', port: 4000 });
  t.equal(m.moved, undefined, 'back where it joined: nothing moved');
  t.same(entry.records().map((r) => [r.address, r.port]), [['10.0.0.1', 4000]]);
});

t.test('limits stay counted against the endpoint that joined; removal forgets both endpoints', async (t) => {
  const { registry, entry, m } = setup();
  registry.moveMember(entry, m, { address: '10.0.0.9', port: 5000 });
  t.equal(registry.roomsOf('10.0.0.1:4000'), 1, 'rooms per endpoint: the joining endpoint');
  t.equal(registry.roomsOf('10.0.0.9:5000'), 0);
  registry.removeMember(entry, 'm1');
  t.equal(registry.roomsOf('10.0.0.1:4000'), 0);
  t.equal(entry.authenticate('10.0.0.9:5000', TOKEN), undefined, 'gone from the moved index too');
  t.equal(entry.authenticate('10.0.0.1:4000', TOKEN), undefined);
  // A notice about a member already gone changes nothing.
  registry.moveMember(entry, m, { address: '10.0.0.7', port: 7000 });
  t.equal(entry.authenticate('10.0.0.7:7000', TOKEN), undefined, 'a stale move is ignored');
});
