import t from 'tap';
import type { Field, ObjectSchema } from '../lib/schema.js';
import {
  ChallengeEvent,
  ClosedEvent,
  ControlLeaveRequest,
  ControlRequest,
  errorEvent,
  ErrorEvent,
  FetchedReply,
  FetchRequest,
  GapEvent,
  HbReply,
  HbRequest,
  JoinedReply,
  JoinRequest,
  LeftReply,
  MembersReply,
  MsgEvent,
  PingRequest,
  WhereRequest,
  HereReply,
  PongReply,
  PresenceEvent,
  RoomLeaveRequest,
  RoomRequest,
  RoomsReply,
  RoomsRequest,
  SayRequest,
  ServerMessage,
  WhoRequest,
} from '../lib/wire.js';

const EMOJI = '\u{1F600}';
const TOKEN = 'V1StGXR8_Z5jdHi6B-myT';

type AnySchema = ObjectSchema<Record<string, Field<unknown>>>;
type Union = { types: string[]; parse(v: unknown): { ok: boolean } };

interface Case {
  /** Which union carries it on the wire. */
  union: 'ControlRequest' | 'RoomRequest' | 'ServerMessage';
  schema: AnySchema;
  /** A valid example with every declared field, optional ones included. */
  full: Record<string, unknown>;
}

const unions: Record<Case['union'], Union> = { ControlRequest, RoomRequest, ServerMessage };

// One valid example of every wire message (the tables of docs/protocol.md section 3).
const cases: Case[] = [
  { union: 'ControlRequest', schema: JoinRequest as AnySchema, full: { type: 'join', id: 'j1', room: 'lobby', nick: 'ann', key: 'secret' } },
  { union: 'ControlRequest', schema: ControlLeaveRequest as AnySchema, full: { type: 'leave', id: 'l1', room: 'lobby', token: TOKEN } },
  { union: 'ControlRequest', schema: RoomsRequest as AnySchema, full: { type: 'rooms', id: 'r1', after: 'lobby' } },
  { union: 'ControlRequest', schema: PingRequest as AnySchema, full: { type: 'ping', id: 'p1' } },
  { union: 'ControlRequest', schema: WhereRequest as AnySchema, full: { type: 'where', id: 'w1', room: 'lobby', token: TOKEN } },
  { union: 'RoomRequest', schema: SayRequest as AnySchema, full: { type: 'say', token: TOKEN, id: 's1', text: 'hello' } },
  { union: 'RoomRequest', schema: HbRequest as AnySchema, full: { type: 'hb', token: TOKEN, nonce: 'n0nce-n0nce-n0nce-n0nc' } },
  { union: 'RoomRequest', schema: FetchRequest as AnySchema, full: { type: 'fetch', token: TOKEN, from: 1, to: 10 } },
  { union: 'RoomRequest', schema: WhoRequest as AnySchema, full: { type: 'who', token: TOKEN, id: 'w1', after: 'm1' } },
  { union: 'RoomRequest', schema: RoomLeaveRequest as AnySchema, full: { type: 'leave', token: TOKEN, id: 'l2' } },
  {
    union: 'ServerMessage',
    schema: JoinedReply as AnySchema,
    full: { type: 'joined', id: 'j1', room: 'lobby', port: 40001, member: 'm1', token: TOKEN, nick: 'ann', members: 1, seq: 1, heartbeatMs: 5000, host: '10.0.0.3' },
  },
  { union: 'ServerMessage', schema: LeftReply as AnySchema, full: { type: 'left', id: 'l1', room: 'lobby' } },
  { union: 'ServerMessage', schema: RoomsReply as AnySchema, full: { type: 'rooms', id: 'r1', rooms: [{ room: 'a', members: 2 }, { room: 'b', members: 0 }], more: false } },
  { union: 'ServerMessage', schema: PongReply as AnySchema, full: { type: 'pong', id: 'p1' } },
  { union: 'ServerMessage', schema: HereReply as AnySchema, full: { type: 'here', id: 'w1', room: 'lobby', host: '10.0.0.4', port: 40002 } },
  {
    union: 'ServerMessage',
    schema: MsgEvent as AnySchema,
    full: { type: 'msg', room: 'lobby', seq: 7, member: 'm1', nick: 'ann', text: 'hi', ts: 1_700_000_000_000, id: 's1' },
  },
  { union: 'ServerMessage', schema: PresenceEvent as AnySchema, full: { type: 'presence', room: 'lobby', seq: 2, event: 'join', member: 'm2', nick: 'bob' } },
  { union: 'ServerMessage', schema: ClosedEvent as AnySchema, full: { type: 'closed', room: 'lobby', reason: 'shutdown' } },
  { union: 'ServerMessage', schema: ErrorEvent as AnySchema, full: { type: 'error', code: 'NOT_MEMBER', message: 'not a member', id: 's1' } },
  { union: 'ServerMessage', schema: HbReply as AnySchema, full: { type: 'hb', room: 'lobby', seq: 9 } },
  { union: 'ServerMessage', schema: ChallengeEvent as AnySchema, full: { type: 'challenge', room: 'lobby', nonce: 'n0nce-n0nce-n0nce-n0nc' } },
  { union: 'ServerMessage', schema: FetchedReply as AnySchema, full: { type: 'fetched', room: 'lobby', from: 3, to: 5 } },
  { union: 'ServerMessage', schema: GapEvent as AnySchema, full: { type: 'gap', room: 'lobby', from: 1, to: 2 } },
  { union: 'ServerMessage', schema: MembersReply as AnySchema, full: { type: 'members', id: 'w1', room: 'lobby', members: [{ member: 'm1', nick: 'ann' }], more: true } },
];

const label = (c: Case) => `${c.union} ${String(c.full['type'])}`;

/** A value of another JSON type than v. */
function wrongType(v: unknown): unknown[] {
  if (typeof v === 'string') return [42, null, true, [v], { v }];
  if (typeof v === 'number') return [String(v), null, true, [v], v + 0.5];
  if (typeof v === 'boolean') return ['true', null, 1, [v]];
  if (Array.isArray(v)) return [{}, 'x', null, 1];
  return [null];
}

t.test('every union member has an example, and every example belongs to its union', async (t) => {
  for (const [name, u] of Object.entries(unions)) {
    const types = cases.filter((c) => c.union === name).map((c) => c.full['type']);
    t.strictSame([...types].sort(), [...u.types].sort(), `${name} is covered`);
  }
});

t.test('a valid example of every message parses to exactly its declared fields', async (t) => {
  for (const c of cases) {
    const withExtra = { ...c.full, unknownField: 'ignored', another: { nested: 1 } };
    const direct = c.schema.parse(withExtra);
    t.strictSame(direct, { ok: true, value: c.full }, `${label(c)} via its schema`);
    t.strictSame(unions[c.union].parse(withExtra), { ok: true, value: c.full }, `${label(c)} via ${c.union}`);
    t.strictSame(c.schema.keys, Object.keys(c.full), `${label(c)} declares exactly the example's fields`);
  }
});

t.test('optional fields may be left out', async (t) => {
  for (const c of cases) {
    const optional = c.schema.keys.filter((k) => c.schema.shape[k]!.optional);
    if (optional.length === 0) continue;
    const minimal = { ...c.full };
    for (const k of optional) delete minimal[k];
    t.strictSame(unions[c.union].parse(minimal), { ok: true, value: minimal }, `${label(c)} without ${optional.join(', ')}`);
  }
  const optionalOf = (c: Case) => c.schema.keys.filter((k) => c.schema.shape[k]!.optional);
  t.strictSame(
    cases.filter((c) => optionalOf(c).length > 0).map((c) => `${label(c)}: ${optionalOf(c).join(',')}`),
    ['ControlRequest join: key', 'ControlRequest rooms: after', 'RoomRequest hb: nonce', 'RoomRequest who: after', 'ServerMessage joined: host', 'ServerMessage error: id'],
    'the optional fields are the protocol\'s',
  );
});

t.test('a missing required field is BAD_REQUEST naming the field', async (t) => {
  for (const c of cases) {
    for (const k of c.schema.keys) {
      if (c.schema.shape[k]!.optional || k === 'type') continue;
      const v = { ...c.full };
      delete v[k];
      t.strictSame(unions[c.union].parse(v), { ok: false, code: 'BAD_REQUEST', message: `missing field "${k}"` }, `${label(c)} without ${k}`);
    }
  }
});

t.test('a message without type is BAD_REQUEST', async (t) => {
  for (const c of cases) {
    const v = { ...c.full };
    delete v['type'];
    t.strictSame(unions[c.union].parse(v), { ok: false, code: 'BAD_REQUEST', message: 'missing string field "type"' }, label(c));
  }
});

t.test('a field of the wrong JSON type is BAD_REQUEST naming the field', async (t) => {
  for (const c of cases) {
    for (const k of c.schema.keys) {
      if (k === 'type') continue;
      for (const bad of wrongType(c.full[k])) {
        const r = c.schema.parse({ ...c.full, [k]: bad });
        t.equal(r.ok, false, `${label(c)} ${k}=${JSON.stringify(bad)} is refused`);
        if (!r.ok) {
          t.equal(r.code, 'BAD_REQUEST');
          t.match(r.message, `"${k}" must be`);
        }
      }
    }
  }
});

t.test('a request id of 0 or 65 characters is BAD_REQUEST; 1 and 64 are accepted', async (t) => {
  const withId = cases.filter((c) => c.schema.keys.includes('id'));
  t.equal(withId.length, 16, 'every message with an id is checked');
  for (const c of withId) {
    const u = unions[c.union];
    for (const id of ['x', 'x'.repeat(64), EMOJI.repeat(64), `${EMOJI.repeat(63)}x`]) {
      t.equal(u.parse({ ...c.full, id }).ok, true, `${label(c)} id of ${id.length} UTF-16 units is accepted`);
    }
    for (const id of ['', 'x'.repeat(65), EMOJI.repeat(65)]) {
      t.strictSame(
        u.parse({ ...c.full, id }),
        { ok: false, code: 'BAD_REQUEST', message: '"id" must be a string of 1-64 characters' },
        `${label(c)} id of ${id.length} UTF-16 units is refused`,
      );
    }
  }
});

t.test('fetch from < 1 or to < 1 is BAD_REQUEST', async (t) => {
  const base = { type: 'fetch', token: TOKEN, from: 1, to: 1 };
  t.equal(RoomRequest.parse(base).ok, true, 'from 1 to 1');
  for (const from of [0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2, '1']) {
    const r = RoomRequest.parse({ ...base, from });
    t.equal(r.ok, false, `from ${JSON.stringify(from)}`);
    if (!r.ok) t.equal(r.code, 'BAD_REQUEST');
  }
  for (const to of [0, -5]) t.equal(RoomRequest.parse({ ...base, to }).ok, false, `to ${to}`);
});

t.test('numeric fields of server messages keep their ranges', async (t) => {
  const joined = cases.find((c) => c.full['type'] === 'joined')!.full;
  t.equal(ServerMessage.parse({ ...joined, port: 0 }).ok, false, 'port 0');
  t.equal(ServerMessage.parse({ ...joined, port: 65536 }).ok, false, 'port 65536');
  t.equal(ServerMessage.parse({ ...joined, port: 65535 }).ok, true, 'port 65535');
  t.equal(ServerMessage.parse({ ...joined, heartbeatMs: 0 }).ok, false, 'heartbeatMs 0');
  t.equal(ServerMessage.parse({ ...joined, members: -1 }).ok, false, 'members -1');
  const msg = cases.find((c) => c.full['type'] === 'msg')!.full;
  t.equal(ServerMessage.parse({ ...msg, seq: 0 }).ok, false, 'msg seq 0');
  t.equal(ServerMessage.parse({ ...msg, ts: -1 }).ok, false, 'msg ts -1');
  const fetched = { type: 'fetched', room: 'r', from: 5, to: 4 };
  t.equal(ServerMessage.parse(fetched).ok, true, 'an empty fetched range has to = from - 1');
  t.equal(ServerMessage.parse({ ...fetched, from: 1, to: 0 }).ok, true, 'fetched from 1 to 0');
  t.equal(ServerMessage.parse({ ...fetched, from: 0 }).ok, false, 'fetched from 0');
  t.equal(ServerMessage.parse({ type: 'gap', room: 'r', from: 1, to: 0 }).ok, false, 'gap to 0');
});

t.test('presence event is one of join, leave, evict', async (t) => {
  const p = cases.find((c) => c.full['type'] === 'presence')!.full;
  for (const event of ['join', 'leave', 'evict']) t.equal(ServerMessage.parse({ ...p, event }).ok, true, event);
  for (const event of ['kick', 'JOIN', '']) t.equal(ServerMessage.parse({ ...p, event }).ok, false, event);
});

t.test('rooms and members entries are checked item by item', async (t) => {
  const rooms = cases.find((c) => c.full['type'] === 'rooms' && c.union === 'ServerMessage')!.full;
  t.equal(ServerMessage.parse({ ...rooms, rooms: [] }).ok, true, 'an empty page');
  for (const entry of [{ room: 'a' }, { room: 1, members: 1 }, { room: 'a', members: -1 }, null, 'a', [['a', 1]]]) {
    t.equal(ServerMessage.parse({ ...rooms, rooms: [entry] }).ok, false, `rooms entry ${JSON.stringify(entry)}`);
  }
  const members = cases.find((c) => c.full['type'] === 'members')!.full;
  for (const entry of [{ member: 'm1' }, { member: 'm1', nick: 2 }, null, []]) {
    t.equal(ServerMessage.parse({ ...members, members: [entry] }).ok, false, `members entry ${JSON.stringify(entry)}`);
  }
});

t.test(
  'unknown fields inside rooms and members entries are dropped like top-level ones',
  async (t) => {
    const r = ServerMessage.parse({ type: 'rooms', id: 'r1', rooms: [{ room: 'a', members: 1, extra: true }], more: false });
    t.strictSame(r, { ok: true, value: { type: 'rooms', id: 'r1', rooms: [{ room: 'a', members: 1 }], more: false } });
    const m = ServerMessage.parse({ type: 'members', id: 'w1', room: 'x', members: [{ member: 'm', nick: 'n', extra: true }], more: false });
    t.strictSame(m, { ok: true, value: { type: 'members', id: 'w1', room: 'x', members: [{ member: 'm', nick: 'n' }], more: false } });
  },
);

t.test('a type from another endpoint is unknown there', async (t) => {
  t.strictSame(ControlRequest.parse({ type: 'say', token: TOKEN, id: 's', text: 'x' }), { ok: false, code: 'BAD_REQUEST', message: 'unknown type "say"' });
  t.strictSame(RoomRequest.parse({ type: 'join', id: 'j', room: 'r', nick: 'n' }), { ok: false, code: 'BAD_REQUEST', message: 'unknown type "join"' });
  t.strictSame(RoomRequest.parse({ type: 'ping', id: 'p' }), { ok: false, code: 'BAD_REQUEST', message: 'unknown type "ping"' });
});

t.test('leave means different fields at the control and the room endpoint', async (t) => {
  t.strictSame(ControlRequest.parse({ type: 'leave', id: 'l', token: TOKEN }), { ok: false, code: 'BAD_REQUEST', message: 'missing field "room"' });
  t.strictSame(RoomRequest.parse({ type: 'leave', id: 'l', token: TOKEN, room: 'x' }), { ok: true, value: { type: 'leave', token: TOKEN, id: 'l' } });
});

t.test('a join key must be 1-64 characters when given', async (t) => {
  const join = { type: 'join', id: 'j', room: 'r', nick: 'n' };
  t.equal(ControlRequest.parse({ ...join, key: 'k' }).ok, true);
  t.equal(ControlRequest.parse({ ...join, key: EMOJI.repeat(64) }).ok, true);
  t.equal(ControlRequest.parse({ ...join, key: '' }).ok, false);
  t.equal(ControlRequest.parse({ ...join, key: 'k'.repeat(65) }).ok, false);
});

t.test('errorEvent without an id has no id field', async (t) => {
  const e = errorEvent('BAD_REQUEST', 'the request is not valid');
  t.strictSame(e, { type: 'error', code: 'BAD_REQUEST', message: 'the request is not valid' });
  t.equal(Object.hasOwn(e, 'id'), false);
  t.equal(JSON.stringify(e), '{"type":"error","code":"BAD_REQUEST","message":"the request is not valid"}');
  t.strictSame(ServerMessage.parse(JSON.parse(JSON.stringify(e))), { ok: true, value: e });
});

t.test('errorEvent with an id echoes it', async (t) => {
  const e = errorEvent('NOT_MEMBER', 'not a member of this room', 'req-7');
  t.strictSame(e, { type: 'error', code: 'NOT_MEMBER', message: 'not a member of this room', id: 'req-7' });
  t.strictSame(ServerMessage.parse(JSON.parse(JSON.stringify(e))), { ok: true, value: e });
});
