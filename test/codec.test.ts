import t from 'tap';
import { decodeDatagram, encode, pack, splitServerDatagram, type Decoded } from '../lib/codec.js';

const MAX = 1200;

/** A ping datagram of exactly n bytes, padded with a `pad` string field. */
function datagramOf(n: number): Buffer {
  const base = Buffer.byteLength('{"type":"ping","id":"p","pad":""}');
  const b = Buffer.from(`{"type":"ping","id":"p","pad":"${'x'.repeat(n - base)}"}`);
  if (b.length !== n) throw new Error(`fixture is ${b.length} bytes, wanted ${n}`);
  return b;
}

function codeOf(d: Decoded): string {
  return d.ok ? 'ok' : d.error.code;
}

t.test('a datagram of exactly maxBytes is accepted', async (t) => {
  const d = decodeDatagram(datagramOf(MAX), MAX);
  t.equal(d.ok, true);
  if (d.ok) t.equal(d.value['type'], 'ping');
});

t.test('a datagram one byte over maxBytes is TOO_LARGE', async (t) => {
  const d = decodeDatagram(datagramOf(MAX + 1), MAX);
  t.strictSame(d, { ok: false, error: { code: 'TOO_LARGE', message: 'datagram over 1200 bytes' } });
  t.equal(codeOf(decodeDatagram(Buffer.concat([datagramOf(MAX), Buffer.from(' ')]), MAX)), 'TOO_LARGE', 'also when the extra byte is whitespace');
});

t.test('size is checked before content: oversize garbage is TOO_LARGE', async (t) => {
  t.equal(codeOf(decodeDatagram(Buffer.alloc(MAX + 1, 0xff), MAX)), 'TOO_LARGE');
});

t.test('multi-byte characters are counted in bytes, not characters', async (t) => {
  const base = Buffer.byteLength('{"type":"ping","id":"pq","pad":""}');
  t.equal((MAX - base) % 2, 0, 'the fixture pads with whole two-byte characters');
  const pad = '\u00e9'.repeat((MAX - base) / 2); // two bytes each in UTF-8
  const fits = Buffer.from(`{"type":"ping","id":"pq","pad":"${pad}"}`);
  t.equal(fits.length, MAX);
  t.equal(decodeDatagram(fits, MAX).ok, true);
  const over = Buffer.from(`{"type":"ping","id":"pq","pad":"${pad}x"}`);
  t.equal(over.length, MAX + 1);
  t.equal(codeOf(decodeDatagram(over, MAX)), 'TOO_LARGE');
});

t.test('invalid UTF-8 is BAD_REQUEST, even inside a JSON string', async (t) => {
  const wrap = (bytes: number[]) => Buffer.concat([Buffer.from('{"type":"ping","id":"'), Buffer.from(bytes), Buffer.from('"}')]);
  const cases: Record<string, number[]> = {
    'a lone continuation byte': [0x80],
    'the byte 0xff': [0xff],
    'a truncated two-byte sequence': [0xc3],
    'an overlong encoding of "/"': [0xc0, 0xaf],
    'an encoded UTF-16 surrogate': [0xed, 0xa0, 0x80],
    'a code point above U+10FFFF': [0xf4, 0x90, 0x80, 0x80],
  };
  for (const [name, bytes] of Object.entries(cases)) {
    t.strictSame(decodeDatagram(wrap(bytes), MAX), { ok: false, error: { code: 'BAD_REQUEST', message: 'datagram is not valid UTF-8' } }, name);
  }
  t.equal(decodeDatagram(wrap([0xc3, 0xa9]), MAX).ok, true, 'valid two-byte UTF-8 is accepted');
});

t.test('two objects in one datagram are BAD_REQUEST', async (t) => {
  for (const s of ['{"type":"ping","id":"a"}{"type":"ping","id":"b"}', '{"type":"ping","id":"a"}\n{"type":"ping","id":"b"}', '{"type":"ping","id":"a"} {}']) {
    t.strictSame(decodeDatagram(Buffer.from(s), MAX), { ok: false, error: { code: 'BAD_REQUEST', message: 'datagram is not one JSON object' } }, JSON.stringify(s));
  }
});

t.test('surrounding JSON whitespace and the trailing newline of nc are accepted', async (t) => {
  for (const s of ['{"type":"ping","id":"a"}\n', '  {"type":"ping","id":"a"}  ', '\r\n\t{"type":"ping","id":"a"}\r\n', '\n\n{"type":"ping","id":"a"}\n\n']) {
    t.strictSame(decodeDatagram(Buffer.from(s), MAX), { ok: true, value: { type: 'ping', id: 'a' } }, JSON.stringify(s));
  }
});

t.test('non-JSON-whitespace around the object is BAD_REQUEST', async (t) => {
  const cases: Record<string, string> = {
    'a leading byte order mark': '\uFEFF{"type":"ping","id":"a"}',
    'a leading no-break space': '\u00a0{"type":"ping","id":"a"}',
    'a trailing line separator U+2028': '{"type":"ping","id":"a"}\u2028',
  };
  for (const [name, s] of Object.entries(cases)) t.equal(codeOf(decodeDatagram(Buffer.from(s), MAX)), 'BAD_REQUEST', name);
});

t.test('JSON that is not an object is BAD_REQUEST', async (t) => {
  for (const s of ['[]', '[{"type":"ping","id":"a"}]', '"ping"', '42', '-0', 'null', 'true', 'false']) {
    t.strictSame(decodeDatagram(Buffer.from(s), MAX), { ok: false, error: { code: 'BAD_REQUEST', message: 'datagram is not a JSON object' } }, s);
  }
});

t.test('empty, blank and broken datagrams are BAD_REQUEST', async (t) => {
  for (const s of ['', ' ', '\n', '{', '{"type":"ping",}', "{'type':'ping'}", '{"type":"ping"', 'ping']) {
    t.equal(codeOf(decodeDatagram(Buffer.from(s), MAX)), 'BAD_REQUEST', JSON.stringify(s));
  }
});

t.test('deep nesting does not throw and parses to the nested object', async (t) => {
  const depth = 100_000;
  const s = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  let d: Decoded | undefined;
  t.doesNotThrow(() => {
    d = decodeDatagram(Buffer.from(s), s.length);
  });
  t.equal(d?.ok, true);
  let v: unknown = d?.ok ? d.value : undefined;
  let levels = 0;
  while (typeof v === 'object' && v !== null) {
    v = (v as Record<string, unknown>)['a'];
    levels++;
  }
  t.equal(levels, depth);
  t.equal(v, 1);
  const arrays = '{"a":' + '['.repeat(depth) + ']'.repeat(depth) + '}';
  t.equal(decodeDatagram(Buffer.from(arrays), arrays.length).ok, true, 'deeply nested arrays');
  const unbalanced = '{"a":' + '['.repeat(depth);
  t.equal(codeOf(decodeDatagram(Buffer.from(unbalanced), unbalanced.length)), 'BAD_REQUEST', 'deep and unterminated');
});

t.test('NUL bytes are BAD_REQUEST outside strings and raw inside them, escaped NUL is data', async (t) => {
  t.equal(codeOf(decodeDatagram(Buffer.from('{"type":"ping","id":"a"}\0'), MAX)), 'BAD_REQUEST', 'a trailing NUL');
  t.equal(codeOf(decodeDatagram(Buffer.from('\0{"type":"ping","id":"a"}'), MAX)), 'BAD_REQUEST', 'a leading NUL');
  t.equal(codeOf(decodeDatagram(Buffer.from('{"type":"ping","id":"a\0"}'), MAX)), 'BAD_REQUEST', 'a raw NUL inside a string');
  t.strictSame(decodeDatagram(Buffer.from('{"type":"ping","id":"a\\u0000"}'), MAX), { ok: true, value: { type: 'ping', id: 'a\0' } });
  t.equal(codeOf(decodeDatagram(Buffer.alloc(10), MAX)), 'BAD_REQUEST', 'all NULs');
});

t.test('a duplicate key keeps the last value', async (t) => {
  t.strictSame(decodeDatagram(Buffer.from('{"type":"x","type":"ping","id":"a"}'), MAX), { ok: true, value: { type: 'ping', id: 'a' } });
});

t.test('encode writes compact UTF-8 JSON', async (t) => {
  const b = encode({ type: 'msg', text: 'h\u00e9 \u{1F600}' });
  t.equal(b.toString('utf8'), '{"type":"msg","text":"h\u00e9 \u{1F600}"}');
  t.equal(b.length, Buffer.byteLength('{"type":"msg","text":"h\u00e9 \u{1F600}"}'));
});

/** Objects of the given sizes, each a distinct JSON object. */
function objectsOf(sizes: number[]): Buffer[] {
  return sizes.map((n, i) => {
    const head = `{"i":${i},"p":"`;
    const pad = n - head.length - 2;
    if (pad < 0) throw new Error(`size ${n} too small`);
    return Buffer.from(`${head}${'x'.repeat(pad)}"}`);
  });
}

function joined(datagram: Buffer[]): Buffer {
  return Buffer.concat(datagram);
}

function lengths(datagrams: Buffer[][]): number[] {
  return datagrams.map((d) => joined(d).length);
}

/** The objects of packed datagrams, in order, split on "\n". */
function unpack(datagrams: Buffer[][]): string[] {
  return datagrams.flatMap((d) => joined(d).toString('utf8').split('\n'));
}

t.test('pack of nothing is no datagrams', async (t) => {
  t.strictSame(pack([], MAX), []);
});

t.test('pack keeps order and joins objects with "\\n"', async (t) => {
  const objs = objectsOf([20, 30, 40]);
  const out = pack(objs, MAX);
  t.equal(out.length, 1);
  t.equal(joined(out[0]!).toString(), objs.map((o) => o.toString()).join('\n'));
});

t.test('pack keeps every datagram within maxBytes and loses or reorders nothing', async (t) => {
  // A deterministic spread of sizes, small to near the limit.
  let seed = 7;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const sizes = Array.from({ length: 500 }, () => 20 + Math.floor(rand() ** 3 * (MAX - 20)));
  const objs = objectsOf(sizes);
  const out = pack(objs, MAX);
  for (const [i, n] of lengths(out).entries()) t.ok(n <= MAX, `datagram ${i} is ${n} bytes`);
  t.strictSame(unpack(out), objs.map((o) => o.toString()), 'every object once, in push order');
  for (let i = 1; i < out.length; i++) {
    const first = out[i]![0]!;
    t.ok(lengths([out[i - 1]!])[0]! + 1 + first.length > MAX, `datagram ${i} starts only because its first object did not fit`);
  }
});

t.test('pack fills a datagram to exactly maxBytes', async (t) => {
  const [a, b] = objectsOf([600, MAX - 600 - 1]);
  const out = pack([a!, b!], MAX);
  t.strictSame(lengths(out), [MAX], 'a + "\\n" + b is exactly maxBytes');
  const [c, d] = objectsOf([600, MAX - 600]);
  t.strictSame(lengths(pack([c!, d!], MAX)), [600, MAX - 600], 'one byte more splits them');
});

t.test('pack sends objects of exactly maxBytes one per datagram', async (t) => {
  const objs = objectsOf([MAX, MAX, 20, MAX]);
  const out = pack(objs, MAX);
  t.strictSame(lengths(out), [MAX, MAX, 20, MAX]);
  t.strictSame(unpack(out), objs.map((o) => o.toString()));
});

t.test('pack sends a single oversize object alone rather than losing it', async (t) => {
  const objs = objectsOf([20, MAX + 50, 20, 20]);
  const out = pack(objs, MAX);
  t.strictSame(out.map((d) => d.filter((b) => b.toString() !== '\n').length), [1, 1, 2]);
  t.strictSame(lengths(out), [20, MAX + 50, 41]);
  t.strictSame(unpack(out), objs.map((o) => o.toString()));
});

t.test('pack does not copy: datagrams are the original buffers and newlines', async (t) => {
  const objs = objectsOf([20, 20]);
  const out = pack(objs, MAX);
  t.equal(out[0]![0], objs[0]);
  t.equal(out[0]![1]!.toString(), '\n');
  t.equal(out[0]![2], objs[1]);
});

t.test('splitServerDatagram returns each line in order, skipping blank lines', async (t) => {
  const buf = Buffer.from('{"type":"msg","seq":1}\n\n{"type":"msg","seq":2}\n   \n\r\n{"type":"hb","room":"r","seq":2}\n');
  t.strictSame(splitServerDatagram(buf), [
    { type: 'msg', seq: 1 },
    { type: 'msg', seq: 2 },
    { type: 'hb', room: 'r', seq: 2 },
  ]);
});

t.test('splitServerDatagram reports a bad line as null and keeps the others', async (t) => {
  const buf = Buffer.from('{"type":"msg","seq":1}\n{"type":\n[1,2]\n"str"\n{"type":"msg","seq":3}');
  t.strictSame(splitServerDatagram(buf), [{ type: 'msg', seq: 1 }, null, null, null, { type: 'msg', seq: 3 }]);
});

t.test('splitServerDatagram of an empty datagram is empty', async (t) => {
  t.strictSame(splitServerDatagram(Buffer.alloc(0)), []);
  t.strictSame(splitServerDatagram(Buffer.from('\n\n')), []);
});

t.test('splitServerDatagram undoes pack', async (t) => {
  const objs = [{ type: 'msg', seq: 1, text: 'a\nb' }, { type: 'presence', seq: 2 }, { type: 'hb', seq: 2 }];
  const out = pack(objs.map(encode), MAX);
  t.equal(out.length, 1);
  t.strictSame(splitServerDatagram(joined(out[0]!)), objs, 'a "\\n" inside a string is escaped by JSON and does not split');
});
