// JetStream's answer to a write whose expectation failed: "wrong last
// sequence" — another writer got there first (a journal append's fence, a
// KV create of a taken key, a KV update at a stale revision). Matched by the
// API error code, not the text (docs/nats-notes.md): 10071 (the client's
// JetStreamApiCodes.StreamWrongLastSequence), and 10164, which newer
// servers answer where they cannot tell the last sequence. Used by the
// rooms' journals and the supervisor's directory alike; needs no NATS module.
const WRONG_LAST_SEQUENCE_CODES: ReadonlySet<number> = new Set([10071, 10164]);

export function isWrongLastSequence(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'number' && WRONG_LAST_SEQUENCE_CODES.has(code);
}
