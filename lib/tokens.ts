import { timingSafeEqual } from 'node:crypto';

/**
 * Token comparison in constant time for equal lengths. Tokens all have one
 * length, so a length mismatch reveals nothing about a token's content.
 */
export function tokensEqual(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}
