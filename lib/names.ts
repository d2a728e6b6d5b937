// Room name, nick and text rules (protocol "Control endpoint" and "Details").
import { codePoints } from './schema.js';

const ROOM_NAME = /^[A-Za-z0-9._-]{1,64}$/;
// Letters, marks, numbers, punctuation, symbols. This leaves out whitespace,
// control and format characters (bidi overrides, zero-width joiners), which
// would let one nick pass for another.
const NICK_CHARS = /^[\p{L}\p{M}\p{N}\p{P}\p{S}]+$/u;
const CONTROL = /\p{Cc}/u;

export const MAX_NICK_CHARS = 32;

// The rules in words, for refusals: a refusal that says what is allowed saves a guess.
export const ROOM_NAME_RULE = 'room names are 1-64 characters of A-Z a-z 0-9 . _ -';
export const NICK_RULE = `nicks are 1-${MAX_NICK_CHARS} letters, digits, punctuation or symbols (no spaces or control characters)`;
export const KEY_MISSING = 'this room is private: join with its key';
export const KEY_WRONG = 'the key does not match this room\'s key';
export const KEY_UNWANTED = 'this room has no key: join without one';

export function isValidRoomName(name: string): boolean {
  return ROOM_NAME.test(name);
}

/** Returns the NFC nick if valid, else null. */
export function normalizeNick(nick: string): string | null {
  const n = nick.normalize('NFC');
  const len = codePoints(n);
  if (len < 1 || len > MAX_NICK_CHARS) return null;
  return NICK_CHARS.test(n) ? n : null;
}

/** Nicks are unique within a room compared after lower-casing. */
export function nickKey(nfcNick: string): string {
  return nfcNick.toLowerCase().normalize('NFC');
}

export type TextCheck = 'ok' | 'empty' | 'too-long' | 'control';

/** Message text: 1..maxChars code points, no control characters (they could forge lines in terminals). */
export function checkText(text: string, maxChars: number): TextCheck {
  if (text.length === 0) return 'empty';
  if (text.length > maxChars && codePoints(text) > maxChars) return 'too-long';
  return CONTROL.test(text) ? 'control' : 'ok';
}
