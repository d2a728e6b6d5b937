// Hostile datagrams for fuzzing chatd, from a seeded PRNG (mulberry32), so a
// failing run is replayed by its seed: `FUZZ_SEED=123 tap ...` or
// `npm run fuzz -- --seed 123`.
//
// Two parts:
// - HostileGen: a pure generator. Each datagram starts from a valid message
//   of one type (join, leave, rooms, ping at the control port; say, hb,
//   fetch, who, leave at the room port), then gets one to three mutations:
//   wrong field types, extreme numbers, empty and huge strings, deep nesting,
//   prototype-pollution keys, duplicate keys, almost-right tokens, ids of 64
//   and 65 characters, hostile Unicode; then possibly byte-level damage:
//   invalid UTF-8, truncation, NUL bytes, two objects in one datagram, bit
//   flips. Some datagrams are random bytes or valid JSON that is not an
//   object. A share of the room datagrams carry the fuzzer's own real token,
//   sent from the endpoint that joined with it, so the room's per-member
//   paths (schema, rate limits, handlers) are fuzzed too; the same token is
//   also sent from another endpoint (challenged: challenge_sent).
// - Fuzzer: two UDP sockets on one loopback address (the "member" socket,
//   which joins the room, and a "stranger" socket) that send the generated
//   datagrams at a paced rate and check every reply the service sends.
//
// The generator never emits a datagram the service would legitimately act
// on (a `say` that would be sequenced, a `leave` with the real token, a
// `join` that would create a room or add a member): wouldBeApplied() decodes
// every candidate as the service does and replaces such ones. Everything
// else must be refused or answered without changing any state.
import { createSocket, type Socket } from 'node:dgram';
import { isUtf8 } from 'node:buffer';
import { readFile } from 'node:fs/promises';

// ---- PRNG ---------------------------------------------------------------------

/** mulberry32: a tiny, fast, seedable 32-bit PRNG; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let x = a;
    x = Math.imul(x ^ (x >>> 15), x | 1);
    x ^= x + Math.imul(x ^ (x >>> 7), x | 61);
    return ((x ^ (x >>> 14)) >>> 0) / 4294967296;
  };
}

/** A seed from the environment (FUZZ_SEED) or a fresh random one. */
export function seedFromEnv(env: NodeJS.ProcessEnv = process.env): number {
  const s = env['FUZZ_SEED'];
  if (s !== undefined && /^\d+$/.test(s)) return Number(s) >>> 0;
  return Math.floor(Math.random() * 2 ** 32) >>> 0;
}

class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  float(): number {
    return this.next();
  }
  /** Integer in [lo, hi]. */
  int(lo: number, hi: number): number {
    return lo + Math.floor(this.next() * (hi - lo + 1));
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[Math.floor(this.next() * xs.length)]!;
  }
  bytes(n: number): Buffer {
    const b = Buffer.allocUnsafe(n);
    for (let i = 0; i < n; i++) b[i] = Math.floor(this.next() * 256);
    return b;
  }
}

// ---- hostile values -------------------------------------------------------------

/** JSON texts of numbers at the edges: -0, huge, unsafe integers, non-integers, exponents, overflow to Infinity. */
const NUMBERS = ['0', '-0', '1', '-1', '1.5', '1e308', '-1e308', '1e400', '9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '1E2', '0.1e1', '4294967296', '65536', '1e-7', '123456789012345678901234567890'];
/** String stand-ins for numbers. */
const NUMBER_STRINGS = ['"NaN"', '"Infinity"', '"-0"', '"1"', '"0x10"', '""'];

const UNICODE = [
  'a\u200bb', // zero-width space
  '\u202eevil', // right-to-left override
  '\u2066x\u2069', // isolates
  '\u0430dmin', // Cyrillic а + Latin
  'e\u0301'.repeat(20), // combining marks
  '\ufeffbom',
  '\uffff\ufffe',
  '\u{1f600}'.repeat(8),
  '\u00a0nbsp',
  'tab\there',
  'nl\nline',
  'nul\u0000byte',
  '\u0085next',
  '\u2028sep',
  '\u{e0041}tag',
  'İstanbul',
  'ǅ',
];
/** Strings JSON.stringify cannot produce: escapes of lone and reversed surrogates. */
const RAW_STRINGS = ['"\\ud800"', '"\\udc00"', '"\\udc00\\ud800"', '"x\\ud83d"', '"\\u0000"', '"\\u0074ype"', '"\\/\\/"'];

function manyChars(r: Rand, n: number): string {
  const unit = r.pick(['x', '\u20ac', '\u{1f600}', 'e\u0301', '\u0000', '"', '\\', '\u200b']);
  return unit.repeat(Math.ceil(n / unit.length)).slice(0, n);
}

/** JSON text nested `depth` levels deep: [[[...]]] or {"a":{"a":...}}. */
function nested(depth: number, kind: 'array' | 'object', leaf = '1'): string {
  return kind === 'array' ? '['.repeat(depth) + leaf + ']'.repeat(depth) : '{"a":'.repeat(depth) + leaf + '}'.repeat(depth);
}

/** One character of a token changed, removed, added or swapped: a near miss. */
function almost(r: Rand, token: string): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-';
  const i = r.int(0, Math.max(0, token.length - 1));
  switch (r.int(0, 4)) {
    case 0: {
      let c = r.pick([...alphabet]);
      if (c === token[i]) c = c === 'A' ? 'B' : 'A';
      return token.slice(0, i) + c + token.slice(i + 1);
    }
    case 1:
      return token.slice(0, i) + token.slice(i + 1);
    case 2:
      return token + r.pick([...alphabet]);
    case 3:
      return token.toUpperCase() === token ? token.toLowerCase() : token.toUpperCase();
    default:
      return token.slice(0, i) + '\u0410' + token.slice(i + 1); // a Cyrillic look-alike: a different UTF-8 length
  }
}

// ---- messages as ordered raw entries (so keys can repeat and numbers stay raw) ---

type Entry = [rawKey: string, rawValue: string];
const j = (v: unknown) => JSON.stringify(v);

function render(entries: readonly Entry[]): string {
  return '{' + entries.map(([k, v]) => `${k}:${v}`).join(',') + '}';
}

export type Target = 'control' | 'room';
export type Via = 'member' | 'stranger';
export const CONTROL_TYPES = ['join', 'leave', 'rooms', 'ping'] as const;
export const ROOM_TYPES = ['say', 'hb', 'fetch', 'who', 'leave'] as const;

export interface Hostile {
  /** Where it is sent. */
  target: Target;
  /** Which socket sends it: the member's own endpoint, or another one. */
  via: Via;
  /** The message type it started from (`raw` for random bytes and non-objects). */
  base: string;
  /** The mutations applied, joined by "+". */
  kind: string;
  /** Whether it carries the fuzzer's real token. */
  realToken: boolean;
  buf: Buffer;
}

export interface GenOptions {
  seed: number;
  /** The service's datagram limit (config maxDatagramBytes). */
  maxDatagramBytes: number;
  /** The service's text limit (config maxTextChars). */
  maxTextChars: number;
  /** The room the fuzzer (and the real clients) are in. */
  room: string;
  /** Share of room datagrams that carry the real token (default 0.35). */
  tokenShare?: number;
}

const ROOM_NAME = /^[A-Za-z0-9._-]{1,64}$/;
const CONTROL_CHAR = /\p{Cc}/u;

function codePoints(s: string): number {
  let n = 0;
  for (const _ of s) n++;
  return n;
}

const isId = (v: unknown): boolean => typeof v === 'string' && codePoints(v) >= 1 && codePoints(v) <= 64;

export class HostileGen {
  readonly seed: number;
  /** Candidates replaced because the service would have applied them. */
  replaced = 0;
  private readonly r: Rand;
  private readonly o: Required<GenOptions>;
  private token = '';
  private n = 0;

  constructor(o: GenOptions) {
    this.seed = o.seed >>> 0;
    this.r = new Rand(this.seed);
    this.o = { tokenShare: 0.35, ...o };
  }

  /** The fuzzer's real membership token (set once it has joined). */
  setToken(token: string): void {
    this.token = token;
  }

  next(): Hostile {
    for (let attempt = 0; attempt < 50; attempt++) {
      const h = this.candidate();
      if (!wouldBeApplied(h, this.token, this.o)) return h;
      this.replaced++;
    }
    return { target: 'room', via: 'stranger', base: 'raw', kind: 'random-bytes', realToken: false, buf: this.r.bytes(this.r.int(1, 64)) };
  }

  private id(): string {
    const r = this.r;
    switch (r.int(0, 9)) {
      case 0:
        return 'i'.repeat(64);
      case 1:
        return 'i'.repeat(65);
      case 2:
        return '\u20ac'.repeat(r.pick([64, 65]));
      case 3:
        return '\u{1f600}'.repeat(r.pick([64, 65]));
      case 4:
        return '';
      default:
        return `f${(this.n++).toString(36)}`;
    }
  }

  private anyToken(): { raw: string; real: boolean } {
    const r = this.r;
    if (this.token !== '' && r.chance(this.o.tokenShare)) return { raw: j(this.token), real: true };
    const t = this.token || 'AAAAAAAAAAAAAAAAAAAAAAAA';
    switch (r.int(0, 5)) {
      case 0:
      case 1:
        return { raw: j(almost(r, t)), real: false };
      case 2:
        return { raw: j(r.bytes(18).toString('base64url')), real: false };
      case 3:
        return { raw: j(r.pick(['', 'x'.repeat(24), 'x'.repeat(23), 'x'.repeat(25), manyChars(r, r.int(100, 2000))])), real: false };
      case 4:
        return { raw: r.pick([...NUMBERS, 'null', 'true', '[]', '{}', j([t]), j({ token: t })]), real: false };
      default:
        return { raw: r.pick(RAW_STRINGS), real: false };
    }
  }

  /** A valid message of the type (with the real token or not), as raw entries. */
  private base(type: string, target: Target): { entries: Entry[]; real: boolean } {
    const r = this.r;
    const room = r.chance(0.8) ? this.o.room : r.pick(['', 'a'.repeat(64), 'a'.repeat(65), 'has space', '../../etc', 'r\u00e9sum\u00e9', this.o.room + '\u0000']);
    const nick = r.chance(0.5) ? `fz${this.n++}` : r.pick(['', 'n'.repeat(32), 'n'.repeat(33), ...UNICODE]);
    const id = j(this.id());
    if (target === 'control') {
      switch (type) {
        case 'join': {
          const e: Entry[] = [[j('type'), j('join')], [j('id'), id], [j('room'), j(room)], [j('nick'), j(nick)]];
          if (r.chance(0.3)) e.push([j('key'), j(r.pick(['k', '', 'k'.repeat(64), 'k'.repeat(65)]))]);
          return { entries: e, real: false };
        }
        case 'leave': {
          const t = this.anyToken();
          return { entries: [[j('type'), j('leave')], [j('id'), id], [j('room'), j(room)], [j('token'), t.raw]], real: t.real };
        }
        case 'rooms': {
          const e: Entry[] = [[j('type'), j('rooms')], [j('id'), id]];
          if (r.chance(0.4)) e.push([j('after'), j(r.pick(['', 'a', this.o.room, '\u{10ffff}']))]);
          if (r.chance(0.3)) e.push([j('pad'), j('p'.repeat(r.int(0, 400)))]);
          return { entries: e, real: false };
        }
        default:
          return { entries: [[j('type'), j('ping')], [j('id'), id]], real: false };
      }
    }
    const t = this.anyToken();
    const tok: Entry = [j('token'), t.raw];
    switch (type) {
      case 'say': {
        const text = r.chance(0.5) ? 'hello' : r.pick(['', 'x'.repeat(this.o.maxTextChars), 'x'.repeat(this.o.maxTextChars + 1), '\u{1f600}'.repeat(this.o.maxTextChars), ...UNICODE]);
        return { entries: [[j('type'), j('say')], tok, [j('id'), id], [j('text'), j(text)]], real: t.real };
      }
      case 'hb':
        return { entries: [[j('type'), j('hb')], tok], real: t.real };
      case 'fetch': {
        const from = r.int(1, 300);
        return { entries: [[j('type'), j('fetch')], tok, [j('from'), String(from)], [j('to'), String(from + r.int(-2, 400))]], real: t.real };
      }
      case 'who': {
        const e: Entry[] = [[j('type'), j('who')], tok, [j('id'), id]];
        if (r.chance(0.4)) e.push([j('after'), j(r.pick(['', 'zzzzzzzzzz', '0']))]);
        return { entries: e, real: t.real };
      }
      default:
        return { entries: [[j('type'), j('leave')], tok, [j('id'), id]], real: t.real };
    }
  }

  private candidate(): Hostile {
    const r = this.r;
    const max = this.o.maxDatagramBytes;
    // Whole-datagram garbage first.
    const roll = r.float();
    if (roll < 0.06) {
      const target: Target = r.chance(0.5) ? 'control' : 'room';
      const len = r.pick([0, 1, 2, r.int(3, 64), r.int(64, max), max, max + 1, r.int(max + 1, max + 100)]);
      return { target, via: r.chance(0.5) ? 'member' : 'stranger', base: 'raw', kind: 'random-bytes', realToken: false, buf: r.bytes(len) };
    }
    if (roll < 0.1) {
      const nonObjects = ['null', 'true', '0', '-0', '1e400', '"str"', '[]', '[{"type":"ping","id":"x"}]', '"{\\"type\\":\\"ping\\",\\"id\\":\\"x\\"}"', ' ', '\n', '{}', nested(r.int(1, 590), 'array'), nested(r.int(1, 230), 'object')];
      return { target: r.chance(0.5) ? 'control' : 'room', via: r.chance(0.5) ? 'member' : 'stranger', base: 'raw', kind: 'non-object', realToken: false, buf: Buffer.from(r.pick(nonObjects)) };
    }

    // A valid message, mostly sent where it belongs, sometimes to the other endpoint.
    let target: Target = r.chance(0.45) ? 'control' : 'room';
    const type = target === 'control' ? r.pick(CONTROL_TYPES) : r.pick(ROOM_TYPES);
    const { entries, real } = this.base(type, target);
    if (r.chance(0.05)) target = target === 'control' ? 'room' : 'control';
    const via: Via = real ? (r.chance(0.8) ? 'member' : 'stranger') : r.chance(0.5) ? 'member' : 'stranger';
    const kinds: string[] = [];

    const ops = r.int(1, 3);
    for (let i = 0; i < ops; i++) kinds.push(this.mutateEntries(entries));
    let text = render(entries);
    if (r.chance(0.25)) kinds.push(this.mutateText(text, (t) => (text = t)));
    let buf: Buffer = Buffer.from(text, 'utf8');
    if (r.chance(0.25)) {
      const k = this.mutateBytes(buf);
      kinds.push(k.kind);
      buf = k.buf;
    }
    // Huge strings: cut to the limit plus a few bytes (JSON cut short, or TOO_LARGE).
    if (buf.length > max) buf = buf.subarray(0, max + r.int(-2, 8));
    return { target, via, base: type, kind: kinds.join('+'), realToken: real, buf };
  }

  /** One structural mutation; returns its name. */
  private mutateEntries(e: Entry[]): string {
    const r = this.r;
    const i = r.int(0, e.length - 1);
    switch (r.int(0, 13)) {
      case 0: {
        e[i]![1] = r.pick([...NUMBERS, ...NUMBER_STRINGS, 'null', 'true', 'false', '[]', '{}', '[1,2]', '{"a":1}', j(r.pick(UNICODE))]);
        return 'wrong-type';
      }
      case 1:
        if (e.length > 1) e.splice(i, 1);
        return 'drop-field';
      case 2: {
        const key = r.pick(['__proto__', 'constructor', 'prototype', 'toString', 'hasOwnProperty', 'valueOf', '__defineGetter__']);
        const val = r.pick(['{"type":"ping","id":"pp","admin":true,"polluted":1}', '{"prototype":{"polluted":true}}', 'null', '1', '"x"', '[]']);
        e.splice(r.int(0, e.length), 0, [j(key), val]);
        return 'proto-key';
      }
      case 3: {
        // Duplicate keys: JSON.parse keeps the last one.
        const [k] = e[i]!;
        const v = k === j('type') ? j(r.pick([...CONTROL_TYPES, ...ROOM_TYPES, 'error', 'joined', 'msg'])) : r.pick(['null', '""', '1', j(r.pick(UNICODE))]);
        e.splice(r.chance(0.5) ? 0 : e.length, 0, [k, v]);
        return 'duplicate-key';
      }
      case 4:
        e[i]![1] = j(r.chance(0.3) ? '' : manyChars(r, 10_000));
        return r.chance(0.3) ? 'empty-string' : 'huge-string';
      case 5:
        e[i]![1] = nested(r.int(1, 560), r.chance(0.5) ? 'array' : 'object', r.pick(['1', '"x"', 'null', '{}']));
        return 'deep-nesting';
      case 6: {
        const k = e.findIndex(([key]) => key === j('token'));
        if (k >= 0) e[k]![1] = j(almost(r, this.token || 'AAAAAAAAAAAAAAAAAAAAAAAA'));
        return 'almost-token';
      }
      case 7: {
        const k = e.findIndex(([key]) => key === j('id'));
        const v = j(r.pick(['i'.repeat(64), 'i'.repeat(65), '\u20ac'.repeat(64), '\u20ac'.repeat(65), '\u{1f600}'.repeat(64), '\u{1f600}'.repeat(65)]));
        if (k >= 0) e[k]![1] = v;
        else e.push([j('id'), v]);
        return 'id-64-65';
      }
      case 8: {
        const k = e.findIndex(([key]) => key === j('from') || key === j('to') || key === j('id'));
        e[k >= 0 ? k : i]![1] = r.pick([...NUMBERS, ...NUMBER_STRINGS]);
        return 'number-edge';
      }
      case 9:
        e[i]![1] = r.pick(RAW_STRINGS);
        return 'escaped-surrogate';
      case 10: {
        // Keys spelled with escapes, in other cases, or with junk around them.
        const [k, v] = e[i]!;
        const name = JSON.parse(k) as string;
        const spelled = r.pick([
          '"' + [...name].map((c) => '\\u' + c.charCodeAt(0).toString(16).padStart(4, '0')).join('') + '"',
          j(name.toUpperCase()),
          j(name + ' '),
          j('\u200b' + name),
          j(name + '\u0000'),
        ]);
        e[i] = [spelled, v];
        return 'key-spelling';
      }
      case 11:
        e[i]![1] = j(r.pick(UNICODE));
        return 'unicode';
      case 12:
        e.push([j('pad'), j('p'.repeat(r.int(0, 1_300)))]);
        return 'pad';
      default: {
        const k = e.findIndex(([key]) => key === j('type'));
        e[k >= 0 ? k : i]![1] = j(r.pick(['', 'PING', 'Join', 'say ', 'joined', 'error', 'msg', '__proto__', 'constructor', 'x'.repeat(200), 'hb\u0000']));
        return 'bad-type';
      }
    }
  }

  /** Damage to the JSON text that stays valid UTF-8. */
  private mutateText(text: string, set: (t: string) => void): string {
    const r = this.r;
    switch (r.int(0, 5)) {
      case 0:
        set(text.slice(0, r.int(0, text.length - 1)));
        return 'truncated';
      case 1: {
        const sep = r.pick(['', '\n', ' ', '\r\n', '\n\n', ',']);
        set(text + sep + r.pick([text, '{}', '{"type":"ping","id":"two"}', '[]', '1']));
        return 'two-objects';
      }
      case 2:
        set(r.pick([' ', '\n', '\t', '\r\n']) + text + r.pick(['', '\n', ' \n ']));
        return 'whitespace';
      case 3:
        set(r.pick(['\u00a0', '\ufeff', '\u000b', '\u000c', '\u2028']) + text);
        return 'non-json-whitespace';
      case 4: {
        const p = r.int(0, text.length);
        set(text.slice(0, p) + '\u0000' + text.slice(p));
        return 'nul';
      }
      default:
        set(text.replace(/,/g, r.pick([' , ', ',,', ',\n'])));
        return 'separators';
    }
  }

  /** Byte-level damage: invalid UTF-8, NUL bytes, bit flips. */
  private mutateBytes(buf: Buffer): { kind: string; buf: Buffer } {
    const r = this.r;
    const at = (b: Buffer) => {
      // Mostly inside a string value: just after a quote.
      const quotes: number[] = [];
      for (let i = 0; i < buf.length; i++) if (buf[i] === 0x22) quotes.push(i + 1);
      const p = quotes.length > 0 && r.chance(0.7) ? r.pick(quotes) : r.int(0, buf.length);
      return Buffer.concat([buf.subarray(0, p), b, buf.subarray(p)]);
    };
    switch (r.int(0, 3)) {
      case 0: {
        const bad = r.pick([
          [0xff],
          [0xfe],
          [0xc3], // lone lead byte
          [0xc3, 0x28], // lead byte + non-continuation
          [0x80], // lone continuation
          [0xc0, 0xaf], // overlong "/"
          [0xe0, 0x80, 0xaf], // overlong "/"
          [0xf0, 0x80, 0x80, 0xaf], // overlong "/"
          [0xc1, 0xbf], // overlong
          [0xed, 0xa0, 0x80], // UTF-16 high surrogate encoded in UTF-8
          [0xed, 0xbf, 0xbf], // low surrogate
          [0xed, 0xa0, 0xbd, 0xed, 0xb8, 0x80], // a surrogate pair, CESU-8 style
          [0xf4, 0x90, 0x80, 0x80], // beyond U+10FFFF
          [0xf8, 0x88, 0x80, 0x80, 0x80], // 5-byte form
        ]);
        return { kind: 'invalid-utf8', buf: at(Buffer.from(bad)) };
      }
      case 1:
        // A multi-byte character cut in half at the end.
        return { kind: 'cut-utf8', buf: Buffer.concat([buf, Buffer.from('\u20ac').subarray(0, r.int(1, 2))]) };
      case 2:
        return { kind: 'nul-bytes', buf: r.chance(0.5) ? at(Buffer.alloc(r.int(1, 4))) : Buffer.concat([buf, Buffer.alloc(1)]) };
      default: {
        const b = Buffer.from(buf);
        for (let k = r.int(1, 4); k > 0 && b.length > 0; k--) b[r.int(0, b.length - 1)]! ^= 1 << r.int(0, 7);
        return { kind: 'bit-flip', buf: b };
      }
    }
  }
}

/**
 * Whether the service would act on this datagram (so the generator must not
 * send it): decoded exactly as the service does (size, UTF-8, JSON.parse,
 * own properties only), then conservatively: a `say` with the real token,
 * an id and acceptable text would be sequenced; a `leave` with the real token
 * would end the membership; a well-formed `join` naming a valid room would
 * add a member (from the stranger socket) or create a room (another name).
 * A join of the fuzzer's room from its member socket is ALREADY_JOINED: kept.
 */
export function wouldBeApplied(h: Hostile, token: string, o: { maxDatagramBytes: number; maxTextChars: number; room: string }): boolean {
  if (h.buf.length > o.maxDatagramBytes || !isUtf8(h.buf)) return false;
  let v: unknown;
  try {
    v = JSON.parse(h.buf.toString('utf8'));
  } catch {
    return false;
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false;
  const get = (k: string): unknown => (Object.hasOwn(v as object, k) ? (v as Record<string, unknown>)[k] : undefined);
  const type = get('type');
  const realToken = token !== '' && get('token') === token;
  if (h.target === 'room') {
    if (h.via !== 'member' || !realToken) return false;
    if (type === 'leave') return true;
    if (type !== 'say' || !isId(get('id'))) return false;
    const text = get('text');
    return typeof text === 'string' && text.length > 0 && codePoints(text) <= o.maxTextChars && !CONTROL_CHAR.test(text);
  }
  if (type === 'leave') return realToken;
  if (type !== 'join') return false;
  const room = get('room');
  if (typeof room !== 'string' || !ROOM_NAME.test(room)) return false;
  return h.via === 'stranger' || room !== o.room;
}

// ---- the sending side ------------------------------------------------------------

/**
 * Every config key is per source address, and only the fuzzer's address
 * (127.0.0.9) comes near these: raised so its datagrams reach the parsers and
 * handlers instead of being dropped by the flood guards (test/flood.test.ts
 * covers those). The real clients are far below the defaults either way.
 */
export const FUZZ_LIMITS = {
  controlRatePerSec: 1_000_000,
  controlBurst: 1_000_000,
  errorReplyRatePerSec: 1_000_000,
  errorReplyBurst: 1_000_000,
  requestRatePerSec: 1_000_000,
  requestBurst: 1_000_000,
  sayRatePerSec: 1_000_000,
  sayBurst: 1_000_000,
};


export interface FuzzerOptions {
  /** The control endpoint's port on 127.0.0.1. */
  controlPort: number;
  /** The loopback address both sockets bind (the fuzzer's "host"); default 127.0.0.9. */
  address?: string;
  seed: number;
  room: string;
  maxDatagramBytes: number;
  maxTextChars: number;
}

export interface FuzzStats {
  seed: number;
  sent: { control: number; roomMember: number; roomStranger: number };
  /** Datagrams sent, by base message type. */
  byBase: Record<string, number>;
  /** Datagrams sent, by first mutation. */
  byKind: Record<string, number>;
  withRealToken: number;
  /** Candidates the guard replaced (the service would have applied them). */
  replaced: number;
  sendErrors: number;
  /** Objects received, by type; errors by code. */
  replies: Record<string, number>;
  errors: Record<string, number>;
  /** Server datagrams that were not NDJSON objects with a string type, or over the limit (must stay 0). */
  malformedReplies: number;
  oversizedReplies: number;
  /** Bytes the stranger socket (never proven) sent and received: anti-amplification says received <= 3x sent. */
  strangerBytesSent: number;
  strangerBytesReceived: number;
  /** Bytes the member socket sent to the control endpoint and received from it (never proven there except for leave). */
  memberControlBytesSent: number;
  memberControlBytesReceived: number;
  durationMs: number;
}

const bump = (o: Record<string, number>, k: string, n = 1) => (o[k] = (o[k] ?? 0) + n);

export class Fuzzer {
  readonly gen: HostileGen;
  readonly stats: FuzzStats;
  roomPort = 0;
  token = '';
  private readonly member: Socket;
  private readonly stranger: Socket;
  private readonly waiters = new Set<(o: Record<string, unknown>) => void>();
  private closed = false;

  private constructor(
    private readonly o: FuzzerOptions,
    member: Socket,
    stranger: Socket,
  ) {
    this.member = member;
    this.stranger = stranger;
    this.gen = new HostileGen(o);
    this.stats = {
      seed: o.seed,
      sent: { control: 0, roomMember: 0, roomStranger: 0 },
      byBase: {},
      byKind: {},
      withRealToken: 0,
      replaced: 0,
      sendErrors: 0,
      replies: {},
      errors: {},
      malformedReplies: 0,
      oversizedReplies: 0,
      strangerBytesSent: 0,
      strangerBytesReceived: 0,
      memberControlBytesSent: 0,
      memberControlBytesReceived: 0,
      durationMs: 0,
    };
    member.on('message', (buf, rinfo) => {
      if (rinfo.port === o.controlPort) this.stats.memberControlBytesReceived += buf.length;
      this.onReply(buf);
    });
    stranger.on('message', (buf) => {
      this.stats.strangerBytesReceived += buf.length;
      this.onReply(buf);
    });
    // Send errors (e.g. ENOBUFS under load) are counted, never thrown.
    member.on('error', () => this.stats.sendErrors++);
    stranger.on('error', () => this.stats.sendErrors++);
  }

  static async open(o: FuzzerOptions): Promise<Fuzzer> {
    const address = o.address ?? '127.0.0.9';
    const bind = async () => {
      const s = createSocket('udp4');
      await new Promise<void>((resolve, reject) => {
        s.once('error', reject);
        s.bind(0, address, () => {
          s.off('error', reject);
          resolve();
        });
      });
      return s;
    };
    return new Fuzzer(o, await bind(), await bind());
  }

  /** Joins the room from the member socket and proves the address with an hb, retrying on loss. */
  async join(nick = 'fuzzer', timeoutMs = 30_000): Promise<void> {
    const id = `fuzz-join-${this.o.seed}`;
    const joined = await this.request(
      () => this.member.send(JSON.stringify({ type: 'join', id, room: this.o.room, nick }), this.o.controlPort, '127.0.0.1'),
      (m) => m['id'] === id && (m['type'] === 'joined' || m['type'] === 'error'),
      timeoutMs,
    );
    if (joined['type'] !== 'joined') throw new Error(`fuzzer join refused: ${JSON.stringify(joined)}`);
    this.token = joined['token'] as string;
    this.roomPort = joined['port'] as number;
    this.gen.setToken(this.token);
    await this.request(() => this.hb(), (m) => m['type'] === 'hb' && m['room'] === this.o.room, timeoutMs);
  }

  /** A plain heartbeat from the member socket, so the fuzzer's membership is not evicted during long runs. */
  hb(): void {
    this.member.send(JSON.stringify({ type: 'hb', token: this.token }), this.roomPort, '127.0.0.1');
  }

  /**
   * Sends `count` hostile datagrams at about `ratePerSec`, in batches of at
   * most `batch` per event-loop turn (so replies are read between batches),
   * with an hb every second.
   */
  async run(count: number, ratePerSec: number, batch = 200, onProgress?: (sent: number) => void): Promise<FuzzStats> {
    const t0 = performance.now();
    let sent = 0;
    let lastHb = t0;
    let lastProgress = t0;
    while (sent < count && !this.closed) {
      const now = performance.now();
      const due = Math.min(count, Math.floor(((now - t0) / 1000) * ratePerSec) + 1);
      const n = Math.min(batch, due - sent);
      for (let i = 0; i < n; i++) this.sendOne(this.gen.next());
      sent += Math.max(0, n);
      if (now - lastHb >= 1_000) {
        this.hb();
        lastHb = now;
      }
      if (onProgress && now - lastProgress >= 2_000) {
        onProgress(sent);
        lastProgress = now;
      }
      if (due - sent > 0) await new Promise<void>((resolve) => setImmediate(resolve));
      else await new Promise<void>((resolve) => setTimeout(resolve, 2));
    }
    this.stats.durationMs = performance.now() - t0;
    this.stats.replaced = this.gen.replaced;
    return this.stats;
  }

  /** Closes both sockets; a run in progress stops. */
  close(): void {
    this.closed = true;
    for (const s of [this.member, this.stranger]) {
      try {
        s.close();
      } catch {
        /* closed */
      }
    }
  }

  private sendOne(h: Hostile): void {
    const s = this.stats;
    const port = h.target === 'control' ? this.o.controlPort : this.roomPort;
    const sock = h.via === 'member' ? this.member : this.stranger;
    if (h.target === 'control') s.sent.control++;
    else if (h.via === 'member') s.sent.roomMember++;
    else s.sent.roomStranger++;
    if (h.via === 'stranger') s.strangerBytesSent += h.buf.length;
    else if (h.target === 'control') s.memberControlBytesSent += h.buf.length;
    bump(s.byBase, h.base);
    bump(s.byKind, h.kind.split('+')[0] || 'none');
    if (h.realToken) s.withRealToken++;
    sock.send(h.buf, port, '127.0.0.1', (err) => {
      if (err) s.sendErrors++;
    });
  }

  private onReply(buf: Buffer): void {
    const s = this.stats;
    if (buf.length > this.o.maxDatagramBytes) s.oversizedReplies++;
    if (!isUtf8(buf)) {
      s.malformedReplies++;
      return;
    }
    for (const line of buf.toString('utf8').split('\n')) {
      let m: unknown;
      try {
        m = JSON.parse(line);
      } catch {
        s.malformedReplies++;
        continue;
      }
      if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof (m as Record<string, unknown>)['type'] !== 'string') {
        s.malformedReplies++;
        continue;
      }
      const o = m as Record<string, unknown>;
      bump(s.replies, o['type'] as string);
      if (o['type'] === 'error') bump(s.errors, String(o['code']));
      for (const w of this.waiters) w(o);
    }
  }

  /** Sends until a matching reply arrives (retrying every 500 ms). */
  private request(send: () => void, match: (m: Record<string, unknown>) => boolean, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const done = (err: Error | undefined, m?: Record<string, unknown>) => {
        clearInterval(retry);
        clearTimeout(timer);
        this.waiters.delete(w);
        if (err) reject(err);
        else resolve(m!);
      };
      const w = (m: Record<string, unknown>) => {
        if (match(m)) done(undefined, m);
      };
      this.waiters.add(w);
      const retry = setInterval(send, 500);
      const timer = setTimeout(() => done(new Error('fuzzer: no answer')), timeoutMs);
      send();
    });
  }
}

/** VmRSS of a process in bytes (Linux /proc), or undefined if it is gone. */
export async function rssBytes(pid: number): Promise<number | undefined> {
  try {
    const status = await readFile(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}
