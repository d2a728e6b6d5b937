// What the network tests check of a run of chat client fixtures
// (test/fixtures/netns-chatter.ts): every say acknowledged to its sender
// reached every member that joined before it, exactly once, at the seq its
// sender was told, in seq order, with no gap, lost membership or failed say.
import type { ChatterResult } from './netns.js';

export interface Figures {
  expected: number;
  delivered: number;
  missing: number;
  duplicates: number;
  outOfOrder: number;
  gaps: number;
  failedSays: number;
  maxDelayMs: number;
  p50DelayMs: number;
  maxAckMs: number;
  lost: number;
}

/**
 * Checks every receiver against every sender's acknowledged messages
 * (those sequenced after the receiver joined). Problems are described one
 * per string so a failure says exactly what went wrong.
 */
export function analyse(results: ChatterResult[]): { figures: Figures; problems: string[] } {
  const problems: string[] = [];
  let expected = 0;
  let delivered = 0;
  let missing = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  const delays: number[] = [];
  for (const r of results) {
    const bySeq = new Map<number, number>();
    const byText = new Map<string, Set<number>>();
    for (let i = 0; i < r.received.length; i++) {
      const m = r.received[i]!;
      bySeq.set(m.seq, (bySeq.get(m.seq) ?? 0) + 1);
      const seqs = byText.get(m.text) ?? new Set<number>();
      seqs.add(m.seq);
      byText.set(m.text, seqs);
      if (i > 0 && m.seq <= r.received[i - 1]!.seq) {
        outOfOrder++;
        problems.push(`${r.nick}: seq ${m.seq} delivered after seq ${r.received[i - 1]!.seq}`);
      }
      if (m.member !== r.member) {
        const sentAt = Number(m.text.split('|')[2]);
        if (Number.isFinite(sentAt)) delays.push(m.at - sentAt);
      }
    }
    for (const [seq, n] of bySeq) {
      if (n > 1) {
        duplicates += n - 1;
        problems.push(`${r.nick}: seq ${seq} delivered ${n} times`);
      }
    }
    for (const [text, seqs] of byText) {
      if (seqs.size > 1) {
        duplicates += seqs.size - 1;
        problems.push(`${r.nick}: "${text}" sequenced ${seqs.size} times (${[...seqs].join(', ')})`);
      }
    }
    for (const s of results) {
      for (const a of s.acked) {
        if (a.seq <= r.joinedSeq) continue; // before the receiver joined: not owed to it
        expected++;
        const got = r.received.filter((m) => m.seq === a.seq);
        if (got.length === 0) {
          missing++;
          problems.push(`${r.nick}: never got ${s.nick}'s acknowledged seq ${a.seq} ("${a.text}")`);
        } else if (got[0]!.text !== a.text) {
          missing++;
          problems.push(`${r.nick}: seq ${a.seq} is "${got[0]!.text}", acknowledged to ${s.nick} as "${a.text}"`);
        } else delivered++;
      }
    }
    for (const g of r.gaps) problems.push(`${r.nick}: gap ${g.from}..${g.to}`);
    for (const l of r.lost) problems.push(`${r.nick}: ${l.event}${l.detail ? ` (${l.detail})` : ''}`);
    for (const f of r.failed) problems.push(`${r.nick}: say ${f.i} failed: ${f.code}`);
    if (r.why !== 'peers done') problems.push(`${r.nick}: stopped waiting because: ${r.why}`);
  }
  delays.sort((x, y) => x - y);
  const acks = results.flatMap((r) => r.acked.map((a) => a.ackedAt - a.sentAt));
  return {
    figures: {
      expected,
      delivered,
      missing,
      duplicates,
      outOfOrder,
      gaps: results.reduce((n, r) => n + r.gaps.length, 0),
      failedSays: results.reduce((n, r) => n + r.failed.length, 0),
      maxDelayMs: delays.at(-1) ?? 0,
      p50DelayMs: delays[Math.floor(delays.length / 2)] ?? 0,
      maxAckMs: Math.max(0, ...acks),
      lost: results.reduce((n, r) => n + r.lost.length, 0),
    },
    problems,
  };
}
