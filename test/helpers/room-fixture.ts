// A Room wired to fakes: a manual clock, a transport that records datagrams,
// an in-memory journal and a recorder for IPC notices. Flushes are manual.
import { hashToken } from '../../lib/tokens.js';
import { pino } from 'pino';
import { ManualClock } from '../../lib/clock.js';
import { makeConfig, type Config } from '../../lib/config.js';
import type { FromRoom, MemberRecord } from '../../lib/ipc.js';
import { MemoryJournal, NOTHING_RESTORED } from '../../rooms/journal.js';
import { Room, type SeqWitness } from '../../rooms/room.js';

export interface Sent {
  to: string;
  /** Which of the room's sockets it left from. */
  via: number;
  objects: Array<Record<string, unknown>>;
  bytes: number;
}

export function makeRoom(overrides: Record<string, unknown> = {}, witness?: SeqWitness, name = 'first') {
  const config: Config = makeConfig({ heartbeatMs: 1000, heartbeatMisses: 3, historySize: 8, ...overrides });
  const clock = new ManualClock();
  const sent: Sent[] = [];
  const notices: FromRoom[] = [];
  const journal = new MemoryJournal();
  let pending: (() => void) | undefined;
  let nonces = 0;
  const room = new Room({
    name,
    config,
    clock,
    journal,
    log: pino({ level: 'silent' }),
    notify: (m) => notices.push(m),
    ...(witness ? { witness } : {}),
    nonce: () => `nonce-${++nonces}-xxxxxxxxxxxxx`,
    schedule: (fn) => {
      pending = fn;
    },
    transport: {
      send: (datagram, port, address, via) => {
        const buf = datagram;
        sent.push({
          to: `${address}:${port}`,
          via,
          bytes: buf.length,
          objects: buf
            .toString()
            .split('\n')
            .map((l) => JSON.parse(l) as Record<string, unknown>),
        });
      },
    },
  });
  room.restore(NOTHING_RESTORED, []);
  const flush = () => {
    const p = pending;
    pending = undefined;
    p?.();
  };
  /** Objects sent to one endpoint since the last take, in order. */
  const take = (port: number) => {
    flush();
    const out: Array<Record<string, unknown>> = [];
    for (let i = 0; i < sent.length; ) {
      if (sent[i]!.to === `127.0.0.1:${port}`) out.push(...sent.splice(i, 1)[0]!.objects);
      else i++;
    }
    return out;
  };
  /** Member n's record, with the raw token its client would hold (the room only gets its hash). */
  const record = (n: number, nick = `nick${n}`): MemberRecord & { token: string } => ({
    member: `m${n}`,
    nick,
    token: `token-${n}-xxxxxxxxxxxxxxxx`,
    tokenHash: hashToken(`token-${n}-xxxxxxxxxxxxxxxx`),
    address: '127.0.0.1',
    port: 40000 + n,
  });
  const from = (n: number) => ({ address: '127.0.0.1', port: 40000 + n });
  /** What went to one endpoint since the last look, as sent (objects and socket), in order. */
  const takeSent = (port: number) => {
    flush();
    const out: Sent[] = [];
    for (let i = 0; i < sent.length; ) {
      if (sent[i]!.to === `127.0.0.1:${port}`) out.push(sent.splice(i, 1)[0]!);
      else i++;
    }
    return out;
  };
  const dgram = (o: object) => Buffer.from(JSON.stringify(o));
  /** Adds member n and has it prove its address with an hb, as a client would right after joined. */
  const join = (n: number) => {
    const r = room.addMember(record(n));
    room.handleDatagram(dgram({ type: 'hb', token: record(n).token }), from(n));
    take(40000 + n);
    return r;
  };
  /** Flushes and forgets everything sent so far. */
  const settle = () => {
    flush();
    sent.length = 0;
  };
  return { room, config, clock, sent, notices, journal, flush, take, takeSent, settle, record, from, dgram, join };
}
