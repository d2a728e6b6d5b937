// A small schema language: each message is declared once and yields both its
// TypeScript type (Infer) and its runtime check. Hand-written rather than a
// library because it sits on the room's per-datagram path and needs only
// strings, integers, literals and arrays.
import type { ErrorCode } from './errors.js';

export interface Field<T> {
  readonly optional: boolean;
  /** What a valid value looks like, for error messages. */
  readonly expected: string;
  /** The error code a bad value of this field gets (protocol: field-specific codes). */
  readonly code: ErrorCode;
  check(v: unknown): v is T;
  /** For composite fields: a copy of a checked value holding only declared keys. */
  clean?(v: T): T;
}

type Shape = Record<string, Field<unknown>>;
type FieldType<F> = F extends Field<infer T> ? T : never;
type OptionalKeys<S extends Shape> = { [K in keyof S]: S[K]['optional'] extends true ? K : never }[keyof S];
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>;
export type InferShape<S extends Shape> = { [K in RequiredKeys<S>]: FieldType<S[K]> } & {
  [K in OptionalKeys<S>]?: FieldType<S[K]>;
};
type Simplify<T> = { [K in keyof T]: T[K] } & {};

export type Result<T> = { ok: true; value: T } | { ok: false; code: ErrorCode; message: string };

export interface ObjectSchema<S extends Shape> {
  readonly shape: S;
  readonly keys: readonly string[];
  parse(v: Record<string, unknown>): Result<Simplify<InferShape<S>>>;
}

/** A discriminated union: each member is an object schema whose `type` is the literal it is listed under. */
export interface UnionSchema<M extends Members<M>> {
  readonly members: M;
  readonly types: string[];
  parse(v: unknown): Result<MemberOf<M>>;
}
// Keyed by the member's own `type` literal, so a listing under the wrong
// name (which parse() would dispatch by) does not compile.
type Members<M> = { [K in keyof M]: ObjectSchema<Shape & { type: Field<K> }> };
type MemberOf<M> = { [K in keyof M]: Infer<M[K]> }[keyof M];

/** The TypeScript type of a schema: an object's fields, or the union of its members' types. */
export type Infer<O> = O extends ObjectSchema<infer S> ? Simplify<InferShape<S>> : O extends UnionSchema<infer M> ? MemberOf<M> : never;

/** Unicode code points in s (protocol: "characters means code points"). */
const LONE_SURROGATE = /\p{Surrogate}/u;

export function codePoints(s: string): number {
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < s.length) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

export function field<T>(expected: string, check: (v: unknown) => v is T, code: ErrorCode = 'BAD_REQUEST'): Field<T> {
  return { optional: false, expected, code, check };
}

export function str(minChars = 0, maxChars = Number.MAX_SAFE_INTEGER, code: ErrorCode = 'BAD_REQUEST'): Field<string> {
  return field(
    `a string of ${minChars}-${maxChars} characters`,
    (v): v is string => {
      if (typeof v !== 'string') return false;
      // Cheap bounds first: UTF-16 length is >= code points and <= 2x them.
      if (v.length < minChars || v.length > 2 * maxChars) return false;
      // JSON can carry lone surrogates ("\ud800"): not Unicode text. Two
      // such keys would hash alike as UTF-8 (both U+FFFD), and strict JSON
      // decoders in other languages reject them, so one hostile member could
      // break other members' clients.
      if (LONE_SURROGATE.test(v)) return false;
      const n = codePoints(v);
      return n >= minChars && n <= maxChars;
    },
    code,
  );
}

export function int(min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): Field<number> {
  return field(
    `an integer in ${min}..${max}`,
    (v): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= min && v <= max,
  );
}

export function bool(): Field<boolean> {
  return field('a boolean', (v): v is boolean => typeof v === 'boolean');
}

export function lit<L extends string>(value: L): Field<L> {
  return field(`"${value}"`, (v): v is L => v === value);
}

export function oneOf<L extends string>(...values: L[]): Field<L> {
  const set = new Set<unknown>(values);
  return field(`one of ${values.join(', ')}`, (v): v is L => set.has(v));
}

export function arr<T>(item: Field<T>, maxItems = Number.MAX_SAFE_INTEGER): Field<T[]> {
  const f = field(
    `an array of ${item.expected}`,
    (v): v is T[] => Array.isArray(v) && v.length <= maxItems && v.every((x) => item.check(x)),
  );
  const cleanItem = item.clean;
  return cleanItem ? { ...f, clean: (v: T[]) => v.map((x) => cleanItem(x)) } : f;
}

/** A nested object; unknown fields are dropped, as at the top level. */
export function obj<S extends Shape>(schema: ObjectSchema<S>): Field<Simplify<InferShape<S>>> {
  type T = Simplify<InferShape<S>>;
  return {
    ...field('an object', (v): v is T => isPlainObject(v) && schema.parse(v).ok),
    clean: (v: T) => {
      const r = schema.parse(v as Record<string, unknown>);
      return r.ok ? r.value : v;
    },
  };
}

export function opt<T>(f: Field<T>): Field<T> & { readonly optional: true } {
  return { ...f, optional: true };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * Declares an object message. parse() copies only the declared keys into a
 * fresh object, so unknown fields (protocol: ignored) and hostile keys such as
 * `__proto__` never reach the handlers.
 */
export function object<S extends Shape>(shape: S): ObjectSchema<S> {
  const keys = Object.keys(shape);
  const entries = keys.map((k) => [k, shape[k]!] as const);
  return {
    shape,
    keys,
    parse(v) {
      const out: Record<string, unknown> = {};
      for (const [k, f] of entries) {
        const x = Object.hasOwn(v, k) ? v[k] : undefined;
        if (x === undefined) {
          if (f.optional) continue;
          return { ok: false, code: 'BAD_REQUEST', message: `missing field "${k}"` };
        }
        if (!f.check(x)) return { ok: false, code: f.code, message: `"${k}" must be ${f.expected}` };
        out[k] = f.clean ? f.clean(x) : x;
      }
      return { ok: true, value: out as Simplify<InferShape<S>> };
    },
  };
}

/** A discriminated union on `type`, dispatched by a map lookup. */
export function union<M extends Members<M>>(members: M): UnionSchema<M> {
  const byType = new Map<string, ObjectSchema<Shape>>(Object.entries<ObjectSchema<Shape>>(members));
  return {
    members,
    types: [...byType.keys()],
    parse(v) {
      if (!isPlainObject(v)) return { ok: false, code: 'BAD_REQUEST', message: 'expected a JSON object' };
      const t = v['type'];
      if (typeof t !== 'string') return { ok: false, code: 'BAD_REQUEST', message: 'missing string field "type"' };
      const s = byType.get(t);
      if (!s) return { ok: false, code: 'BAD_REQUEST', message: `unknown type "${t.slice(0, 32)}"` };
      return s.parse(v) as Result<MemberOf<M>>;
    },
  };
}
