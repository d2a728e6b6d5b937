import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * What chatd keeps of a membership token: its SHA-256 (base64url). Tokens
 * are random (nanoid, 140+ bits), so a plain hash cannot be inverted by
 * guessing; the raw token is never stored, journaled or sent between
 * processes, only the joiner is told it.
 */
export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

/**
 * Token comparison in constant time for equal lengths. Tokens all have one
 * length, so a length mismatch reveals nothing about a token's content.
 */
export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
