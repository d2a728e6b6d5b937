// The nonces of address changes (protocol "Address changes"): a member's
// token from an endpoint other than its own draws a challenge to that
// endpoint, and the membership moves there only when an `hb` carries the
// token and the nonce from that same endpoint while the nonce is valid.
// The nonce goes to the new endpoint, so whoever forges the member's
// address cannot answer it.
import { nanoid } from 'nanoid';
import type { Clock } from '../lib/clock.js';
import { TokenBucket } from '../lib/token-bucket.js';
import { tokensEqual } from '../lib/tokens.js';
import type { Member } from './member.js';

/** How long a nonce is valid (the protocol: a few seconds). */
export const CHALLENGE_TTL_MS = 5_000;
/**
 * Challenges one member may draw per second (burst the same): retries of a
 * lost one, not a flood. Bounded per member, not per source address: a
 * crowd behind one NAT that lost its mappings is challenged at once (each
 * challenge is within 3x its request, and only a valid token draws one).
 */
const CHALLENGES_PER_SEC = 5;
/** 132 bits: unguessable by an off-path attacker within its life. */
const NONCE_CHARS = 22;

export class Challenges {
  constructor(
    private readonly clock: Clock,
    private readonly newNonce: () => string = () => nanoid(NONCE_CHARS),
  ) {}

  /**
   * The nonce to send to `endpoint` for this member, or undefined if it
   * has drawn its share this second. Retries from the same endpoint get
   * the same nonce while it is valid, so a lost challenge costs nothing.
   */
  issue(m: Member, endpoint: string): string | undefined {
    const now = this.clock.now();
    m.challenges ??= new TokenBucket(CHALLENGES_PER_SEC, CHALLENGES_PER_SEC, now);
    if (!m.challenges.take(now)) return undefined;
    if (m.challenge?.endpoint !== endpoint || m.challenge.until <= now) {
      m.challenge = { nonce: this.newNonce(), endpoint, until: now + CHALLENGE_TTL_MS };
    }
    return m.challenge.nonce;
  }

  /** True if this datagram is the member's answer from the challenged endpoint, in time (nonce compared in constant time). */
  answered(m: Member, v: Record<string, unknown>, endpoint: string): boolean {
    const c = m.challenge;
    const nonce = v['nonce'];
    return v['type'] === 'hb' && typeof nonce === 'string' && c !== undefined && c.endpoint === endpoint && c.until > this.clock.now() && tokensEqual(c.nonce, nonce);
  }
}
