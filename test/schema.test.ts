import t from 'tap';
import { arr, bool, codePoints, int, isPlainObject, lit, obj, object, oneOf, opt, str, union, type Result } from '../lib/schema.js';

const EMOJI = '\u{1F600}'; // one code point, two UTF-16 units

/** The value of an ok result, or a failed assertion. */
function valueOf<T>(t: { fail(message: string): unknown }, r: Result<T>): T | undefined {
  if (!r.ok) {
    t.fail(`expected ok, got ${r.code}: ${r.message}`);
    return undefined;
  }
  return r.value;
}

t.test('codePoints counts surrogate pairs once and lone surrogates once', async (t) => {
  t.equal(codePoints(''), 0);
  t.equal(codePoints('abc'), 3);
  t.equal(codePoints(EMOJI), 1);
  t.equal(codePoints(EMOJI.repeat(64)), 64);
  t.equal(codePoints('\uD800'), 1, 'a lone high surrogate');
  t.equal(codePoints('\uDC00\uD800'), 2, 'a low surrogate before a high one is not a pair');
  t.equal(codePoints('a\uD83D'), 2, 'a high surrogate at the end');
});

t.test('str accepts strings whose code point count is in range', async (t) => {
  const s = str(1, 64);
  t.equal(s.check('a'), true);
  t.equal(s.check('x'.repeat(64)), true);
  t.equal(s.check(''), false, 'too short');
  t.equal(s.check('x'.repeat(65)), false, 'too long');
  t.equal(s.check(EMOJI.repeat(64)), true, '64 emoji are 64 characters though 128 UTF-16 units');
  t.equal(s.check(EMOJI.repeat(65)), false, '65 emoji are refused');
  t.equal(s.check(EMOJI.repeat(63) + 'ab'), false, '65 mixed code points are refused');
  t.equal(s.check(EMOJI.repeat(63) + 'a'), true, '64 mixed code points are accepted');
  for (const bad of [1, null, undefined, true, {}, [], ['a']]) t.equal(s.check(bad), false, `refuses ${JSON.stringify(bad)}`);
  t.equal(s.code, 'BAD_REQUEST', 'the default error code');
  t.equal(str(0, 1, 'BAD_NICK').code, 'BAD_NICK', 'a field-specific error code');
  t.match(s.expected, /1-64/);
});

t.test('str with defaults accepts any string, empty included', async (t) => {
  const s = str();
  t.equal(s.check(''), true);
  t.equal(s.check('x'.repeat(10_000)), true);
  t.equal(s.check(42), false);
});

t.test('int accepts safe integers in range only', async (t) => {
  const i = int(1, 10);
  t.equal(i.check(1), true);
  t.equal(i.check(10), true);
  t.equal(i.check(0), false);
  t.equal(i.check(11), false);
  t.equal(i.check(1.5), false);
  t.equal(i.check('5'), false);
  t.equal(i.check(NaN), false);
  t.equal(i.check(Infinity), false);
  t.equal(i.check(null), false);
  const any = int();
  t.equal(any.check(-5), true);
  t.equal(any.check(Number.MAX_SAFE_INTEGER), true);
  t.equal(any.check(Number.MAX_SAFE_INTEGER + 1), false, 'an unsafe integer');
  t.equal(any.check(1e300), false);
});

t.test('bool accepts only booleans', async (t) => {
  const b = bool();
  t.equal(b.check(true), true);
  t.equal(b.check(false), true);
  t.equal(b.check('true'), false);
  t.equal(b.check(0), false);
});

t.test('lit accepts only its value', async (t) => {
  const l = lit('join');
  t.equal(l.check('join'), true);
  t.equal(l.check('JOIN'), false);
  t.equal(l.check('join '), false);
  t.equal(l.check(['join']), false);
  t.equal(l.expected, '"join"');
});

t.test('oneOf accepts only the listed values', async (t) => {
  const o = oneOf('join', 'leave', 'evict');
  for (const v of ['join', 'leave', 'evict']) t.equal(o.check(v), true, v);
  for (const v of ['kick', '', 'Join', 1, null]) t.equal(o.check(v), false, String(v));
  t.match(o.expected, /join, leave, evict/);
});

t.test('arr checks every item and the item bound', async (t) => {
  const a = arr(int(0, 9), 3);
  t.equal(a.check([]), true);
  t.equal(a.check([1, 2, 3]), true);
  t.equal(a.check([1, 2, 3, 4]), false, 'over maxItems');
  t.equal(a.check([1, 'x']), false, 'a bad item');
  t.equal(a.check([1, 10]), false, 'an out of range item');
  t.equal(a.check({ length: 0 }), false, 'an array-like object');
  t.equal(a.check('abc'), false);
});

t.test('opt marks a field optional without changing its check', async (t) => {
  const f = str(1, 2);
  const o = opt(f);
  t.equal(f.optional, false);
  t.equal(o.optional, true);
  t.equal(o.check('a'), true);
  t.equal(o.check(''), false);
  t.equal(o.code, f.code);
});

t.test('isPlainObject is true for objects only', async (t) => {
  t.equal(isPlainObject({}), true);
  t.equal(isPlainObject(Object.create(null)), true);
  t.equal(isPlainObject([]), false);
  t.equal(isPlainObject(null), false);
  t.equal(isPlainObject('x'), false);
  t.equal(isPlainObject(1), false);
});

const Point = object({ type: lit('point'), x: int(), y: int(), label: opt(str(1, 8)) });

t.test('object parses the declared fields', async (t) => {
  t.strictSame(valueOf(t, Point.parse({ type: 'point', x: 1, y: -2 })), { type: 'point', x: 1, y: -2 });
  t.strictSame(valueOf(t, Point.parse({ type: 'point', x: 1, y: 2, label: 'a' })), { type: 'point', x: 1, y: 2, label: 'a' });
  t.strictSame(Point.keys, ['type', 'x', 'y', 'label']);
});

t.test('object drops unknown fields', async (t) => {
  const v = valueOf(t, Point.parse({ type: 'point', x: 1, y: 2, z: 3, extra: { deep: true } }));
  t.strictSame(v, { type: 'point', x: 1, y: 2 });
  t.strictSame(Object.keys(v ?? {}), ['type', 'x', 'y']);
});

t.test('object refuses a missing required field, naming it', async (t) => {
  t.same(Point.parse({ type: 'point', x: 1 }), { ok: false, code: 'BAD_REQUEST', message: 'missing field "y"' });
});

t.test('object refuses a field of the wrong type with the field code, naming it', async (t) => {
  const r = Point.parse({ type: 'point', x: '1', y: 2 });
  t.equal(r.ok, false);
  if (!r.ok) {
    t.equal(r.code, 'BAD_REQUEST');
    t.match(r.message, /"x" must be an integer/);
  }
  const Nicked = object({ nick: str(1, 4, 'BAD_NICK') });
  const n = Nicked.parse({ nick: 'toolong' });
  t.same(n, { ok: false, code: 'BAD_NICK', message: '"nick" must be a string of 1-4 characters' });
});

t.test('object refuses null for an optional field and skips it when absent', async (t) => {
  const r = Point.parse({ type: 'point', x: 1, y: 2, label: null });
  t.equal(r.ok, false);
  if (!r.ok) t.match(r.message, /"label"/);
  const v = valueOf(t, Point.parse({ type: 'point', x: 1, y: 2 }));
  t.equal(Object.hasOwn(v ?? {}, 'label'), false, 'an absent optional field is not set to undefined');
});

t.test('__proto__ and constructor keys in JSON input neither pollute nor get copied', async (t) => {
  const input = JSON.parse(
    '{"type":"point","x":1,"y":2,"__proto__":{"polluted":"yes"},"constructor":{"prototype":{"polluted":"yes"}}}',
  ) as Record<string, unknown>;
  t.equal(Object.hasOwn(input, '__proto__'), true, 'JSON.parse makes __proto__ an own key (the hazard)');
  const v = valueOf(t, Point.parse(input));
  t.strictSame(v, { type: 'point', x: 1, y: 2 });
  t.equal(Object.hasOwn(v ?? {}, '__proto__'), false);
  t.equal(Object.hasOwn(v ?? {}, 'constructor'), false);
  t.equal(Object.getPrototypeOf(v), Object.prototype, 'the output keeps the ordinary prototype');
  t.equal((v as Record<string, unknown>)['polluted'], undefined);
  t.equal(({} as Record<string, unknown>)['polluted'], undefined, 'Object.prototype is untouched');
});

t.test('declared fields named like Object.prototype members are read only as own keys', async (t) => {
  const S = object({ constructor: str(), toString: opt(str()) });
  const r = S.parse(JSON.parse('{}') as Record<string, unknown>);
  t.same(r, { ok: false, code: 'BAD_REQUEST', message: 'missing field "constructor"' }, 'the inherited constructor is not the field');
  const v = valueOf(t, S.parse(JSON.parse('{"constructor":"c"}') as Record<string, unknown>));
  t.equal(v?.constructor, 'c');
  t.equal(Object.hasOwn(v ?? {}, 'toString'), false, 'the inherited toString is not copied');
});

t.test('a nested obj field is checked by its schema', async (t) => {
  const Outer = object({ inner: obj(object({ a: str(1, 3) })) });
  t.equal(Outer.parse({ inner: { a: 'x' } }).ok, true);
  t.equal(Outer.parse({ inner: { a: '' } }).ok, false);
  t.equal(Outer.parse({ inner: { b: 'x' } }).ok, false);
  t.equal(Outer.parse({ inner: [] }).ok, false);
  t.equal(Outer.parse({ inner: null }).ok, false);
  t.equal(Outer.parse({ inner: 'x' }).ok, false);
});

t.test(
  'a nested obj field drops unknown and __proto__ keys as its doc comment says',
  async (t) => {
    const Outer = object({ inner: obj(object({ a: str() })) });
    const v = valueOf(t, Outer.parse(JSON.parse('{"inner":{"a":"x","extra":1,"__proto__":{"p":1}}}') as Record<string, unknown>));
    t.strictSame(v, { inner: { a: 'x' } });
    t.equal(Object.hasOwn(v?.inner ?? {}, '__proto__'), false);
  },
);

const Shapes = union({
  point: Point,
  circle: object({ type: lit('circle'), r: int(0) }),
});

t.test('union dispatches on type', async (t) => {
  t.strictSame(valueOf(t, Shapes.parse({ type: 'circle', r: 3, x: 9 })), { type: 'circle', r: 3 });
  t.strictSame(valueOf(t, Shapes.parse({ type: 'point', x: 0, y: 0 })), { type: 'point', x: 0, y: 0 });
  t.strictSame(Shapes.types, ['point', 'circle']);
});

t.test('union refuses non-objects', async (t) => {
  for (const v of [null, undefined, 1, 'point', true, [], [{ type: 'point', x: 0, y: 0 }]]) {
    t.same(Shapes.parse(v), { ok: false, code: 'BAD_REQUEST', message: 'expected a JSON object' }, JSON.stringify(v) ?? 'undefined');
  }
});

t.test('union refuses a missing or non-string type', async (t) => {
  for (const v of [{}, { type: 1 }, { type: null }, { type: ['point'] }, { type: { a: 1 } }, { Type: 'point' }]) {
    t.same(Shapes.parse(v), { ok: false, code: 'BAD_REQUEST', message: 'missing string field "type"' }, JSON.stringify(v));
  }
});

t.test('union refuses an unknown type, quoting at most 32 characters of it', async (t) => {
  t.same(Shapes.parse({ type: 'square' }), { ok: false, code: 'BAD_REQUEST', message: 'unknown type "square"' });
  const r = Shapes.parse({ type: 'q'.repeat(1000) });
  t.same(r, { ok: false, code: 'BAD_REQUEST', message: `unknown type "${'q'.repeat(32)}"` });
  for (const type of ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '']) {
    t.same(Shapes.parse({ type }), { ok: false, code: 'BAD_REQUEST', message: `unknown type "${type}"` }, `type ${type}`);
  }
});

t.test('union passes a member schema failure through', async (t) => {
  t.same(Shapes.parse({ type: 'circle', r: -1 }), { ok: false, code: 'BAD_REQUEST', message: '"r" must be an integer in 0..9007199254740991' });
  t.same(Shapes.parse({ type: 'circle' }), { ok: false, code: 'BAD_REQUEST', message: 'missing field "r"' });
});

t.test('strings with lone surrogates are refused: they are not Unicode text', async (t) => {
  const s = str(1, 64);
  t.notOk(s.check(JSON.parse('"\\ud800"')), 'a lone high surrogate');
  t.notOk(s.check(JSON.parse('"a\\udfffb"')), 'a lone low surrogate');
  t.ok(s.check(JSON.parse('"\\ud83d\\ude00"')), 'a surrogate pair (an emoji) is fine');
});
