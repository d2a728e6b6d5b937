// Address changes at the room endpoint (protocol "Address changes"): a
// member's token from a new endpoint is challenged, not obeyed; the answer
// (hb with the nonce, from the challenged endpoint) moves the membership;
// and replies leave through the socket the member wrote to.
import t from 'tap';
import { makeRoom } from './helpers/room-fixture.js';

/** Member n's datagrams now come from port `port` (a NAT's new mapping). */
const at = (port: number) => ({ address: '127.0.0.1', port });

t.test('a token from a new endpoint gets a challenge there, and nothing else happens', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  const seen = f.room.roster.get('m1')!.lastSeen;
  f.clock.advance(500);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(1).token, id: 's', text: 'from the new port' }), at(50001));
  t.same(f.take(50001), [{ type: 'challenge', room: 'first', nonce: 'nonce-1-xxxxxxxxxxxxx' }]);
  t.same(f.take(40001), [], 'nothing to the old endpoint');
  t.same(f.take(40002), [], 'the say was not sequenced');
  t.equal(f.room.seq, 2);
  t.equal(f.room.roster.get('m1')!.lastSeen, seen, 'no sign of life');
  t.equal(f.room.roster.get('m1')!.endpoint, '127.0.0.1:40001', 'not moved');
  // A retry from the same endpoint gets the same nonce: a lost challenge costs nothing.
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), at(50001));
  t.same(f.take(50001), [{ type: 'challenge', room: 'first', nonce: 'nonce-1-xxxxxxxxxxxxx' }]);
});

t.test('hb with the nonce from the challenged endpoint moves the membership there', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  const tok = f.record(1).token;
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok }), at(50001));
  const { nonce } = f.take(50001)[0] as { nonce: string };
  f.clock.advance(700);
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok, nonce }), at(50001));
  t.same(f.take(50001), [{ type: 'hb', room: 'first', seq: 2 }], 'answered as an hb, at the new endpoint');
  const m = f.room.roster.get('m1')!;
  t.equal(m.endpoint, '127.0.0.1:50001');
  t.equal(m.lastSeen, f.clock.now(), 'a sign of life');
  t.same(
    f.notices.filter((n) => n.type === 'moved'),
    [{ type: 'moved', member: 'm1', address: '127.0.0.1', port: 50001 }],
    'the supervisor is told where the member is',
  );
  // The new endpoint is the member's now: says work, events go there.
  f.room.handleDatagram(f.dgram({ type: 'say', token: tok, id: 'a', text: 'moved' }), at(50001));
  t.match(f.take(50001), [{ type: 'msg', seq: 3, id: 'a' }]);
  t.match(f.take(40002), [{ type: 'msg', seq: 3, id: 'a' }], 'the others hear it');
  t.same(f.take(40001), [], 'nothing to the old endpoint');
  // ... and the old endpoint is the one challenged now.
  f.room.handleDatagram(f.dgram({ type: 'say', token: tok, id: 'b', text: 'from the old port' }), f.from(1));
  t.match(f.take(40001), [{ type: 'challenge' }]);
  t.equal(f.room.seq, 3, 'not sequenced');
});

t.test('a wrong, stale or misplaced nonce moves nothing', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.settle();
  const tok = f.record(1).token;
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok }), at(50001));
  const { nonce } = f.take(50001)[0] as { nonce: string };
  const cases: Array<[string, object, number]> = [
    ['a wrong nonce', { type: 'hb', token: tok, nonce: 'nonce-9-xxxxxxxxxxxxx' }, 50001],
    ['the nonce from another endpoint', { type: 'hb', token: tok, nonce }, 50002],
    ['the nonce in a say', { type: 'say', token: tok, id: 'x', text: 'hi', nonce }, 50001],
    ["another member's token with the nonce", { type: 'hb', token: 'token-2-xxxxxxxxxxxxxxxx', nonce }, 50001],
  ];
  for (const [what, msg, port] of cases) {
    f.room.handleDatagram(f.dgram(msg), at(port));
    t.equal(f.room.roster.get('m1')!.endpoint, '127.0.0.1:40001', `${what}: not moved`);
  }
  t.notOk(f.notices.some((n) => n.type === 'moved'), 'the supervisor heard of no move');
  // Expired: a few seconds later the nonce is refused and a new one is sent
  // (the member heartbeats from where it is meanwhile, so it stays).
  for (const step of [2_500, 2_501]) {
    f.clock.advance(step);
    f.room.handleDatagram(f.dgram({ type: 'hb', token: tok }), f.from(1));
  }
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok, nonce }), at(50001));
  t.equal(f.room.roster.get('m1')!.endpoint, '127.0.0.1:40001', 'an expired nonce: not moved');
  const fresh = f.take(50001).filter((o) => o['type'] === 'challenge').at(-1) as { nonce: string };
  t.not(fresh.nonce, nonce, 'a new nonce once the old one expired');
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok, nonce: fresh.nonce }), at(50001));
  t.equal(f.room.roster.get('m1')!.endpoint, '127.0.0.1:50001', 'the fresh nonce moves it');
});

t.test('a challenge is sent only within the 3x budget', async (t) => {
  for (const [name, fits] of [
    ['first', true],
    ['r'.repeat(64), false],
  ] as const) {
    const f = makeRoom({}, undefined, name);
    f.join(1);
    f.settle();
    // The smallest datagram that carries the token.
    const tiny = f.dgram({ token: f.record(1).token });
    f.room.handleDatagram(tiny, at(50001));
    const got = f.takeSent(50001);
    t.ok(got.every((s) => s.bytes <= 3 * tiny.length), `room of ${name.length} chars: every reply within 3x ${tiny.length} bytes`);
    t.equal(got.some((s) => s.objects.some((o) => o['type'] === 'challenge')), fits, fits ? 'the challenge fits' : 'no challenge');
    // A full hb from the same client has the room to carry it.
    f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), at(50001));
    t.match(f.take(50001), [{ type: 'challenge' }], 'an ordinary hb is challenged');
  }
});

t.test('a member that moves onto an endpoint another member had: that one is detached until it proves a new one', async (t) => {
  // Two clients behind one NAT: after the NAT forgot its mappings, client 2
  // got the port client 1 had.
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.join(3);
  f.settle();
  const tok2 = f.record(2).token;
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok2 }), f.from(1));
  const { nonce } = f.take(40001)[0] as { nonce: string };
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok2, nonce }), f.from(1));
  f.settle();
  t.equal(f.room.roster.get('m2')!.endpoint, '127.0.0.1:40001');
  t.equal(f.room.roster.get('m1')!.detached, true, 'member 1 lost its endpoint');
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(3).token, id: 'x', text: 'hello' }), f.from(3));
  t.same(
    f.take(40001).map((o) => o['member']),
    ['m3'],
    'the endpoint gets the msg once: as member 2, not also as member 1',
  );
  // Member 1 speaks from its new port: challenged, answers, moves, hears again.
  const tok1 = f.record(1).token;
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok1 }), at(50001));
  const c = f.take(50001)[0] as { nonce: string };
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok1, nonce: c.nonce }), at(50001));
  f.settle();
  t.equal(f.room.roster.get('m1')!.detached, false);
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(3).token, id: 'y', text: 'again' }), f.from(3));
  t.match(f.take(50001), [{ type: 'msg', id: 'y' }], 'member 1 hears the room at its new endpoint');
  t.match(f.take(40001), [{ type: 'msg', id: 'y' }], 'member 2 at its own');
  // Leaving cleans the right index: member 1's departure does not unseat member 2.
  f.room.removeMember('m1');
  f.room.handleDatagram(f.dgram({ type: 'hb', token: tok2 }), f.from(1));
  t.match(f.take(40001), [{ type: 'presence', event: 'leave', member: 'm1' }, { type: 'hb' }], 'member 2 is still served at its endpoint');
});

t.test('replies and events leave through the socket the member last wrote to', async (t) => {
  const f = makeRoom();
  f.join(1);
  f.join(2);
  f.settle();
  // Member 1 writes to the room's second address (socket 1), member 2 to the first.
  f.room.handleDatagram(f.dgram({ type: 'hb', token: f.record(1).token }), f.from(1), 1);
  t.same(
    f.takeSent(40001).map((s) => s.via),
    [1],
    'the hb reply leaves from socket 1',
  );
  f.room.handleDatagram(f.dgram({ type: 'say', token: f.record(2).token, id: 'z', text: 'hi' }), f.from(2), 0);
  t.same(f.takeSent(40001).map((s) => s.via), [1], "member 1 gets the room's events from socket 1");
  t.same(f.takeSent(40002).map((s) => s.via), [0], 'member 2 from socket 0');
  // An error to a stranger leaves from the socket it wrote to.
  f.room.handleDatagram(f.dgram({ type: 'hb', token: 'unknown-token-xxxxxxxxxxx' }), at(50009), 1);
  t.same(f.takeSent(50009).map((s) => [s.via, s.objects[0]!['code']]), [[1, 'NOT_MEMBER']]);
});
