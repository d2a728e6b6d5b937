// A pooled room process (roomPoolSize) runs a throwaway room through the
// paths a real start and its first datagrams take, while it waits for its
// `init`. V8 compiles each function on its first call: in a cold process the
// init -> ready path alone cost ~10 ms of compiling, which is most of a join
// into a new room (the benchmark's target: p50 <= 5 ms), and Node loads parts of
// dgram and dns only on a socket's first bind. The throwaway room has no
// socket, no file and no real timers, and logs nowhere: nothing of it leaks
// into the real one. The one socket bound is a loopback one, closed at once.
import { createSocket } from 'node:dgram';
import { ManualClock } from '../lib/clock.js';
import { hashToken } from '../lib/tokens.js';
import { encode } from '../lib/codec.js';
import { makeConfig } from '../lib/config.js';
import { ToRoom, type MemberRecord } from '../lib/ipc.js';
import { literalLookup } from '../lib/literal-lookup.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { MemoryJournal, NOTHING_RESTORED } from './journal.js';
import { Room } from './room.js';
import { batchSender } from './udp-batch.js';

/** Says run through the throwaway room: enough for V8's baseline tier on the fan-out path. */
const WARM_SAYS = 64;

/** Runs the warm-up; resolves once the loopback socket it bound is closed. */
export async function warmUp(log: Logger): Promise<void> {
  warmUpRoom(log);
  warmUpLogLines();
  await warmUpSocket();
}

/** Binds and closes a loopback socket, loading the native fan-out helper on the way (nothing is sent). */
function warmUpSocket(): Promise<void> {
  const sock = createSocket({ type: 'udp4', lookup: literalLookup });
  return new Promise((resolve) => {
    const done = () => {
      sock.close();
      resolve();
    };
    sock.once('error', done);
    sock.bind({ port: 0, address: '127.0.0.1', exclusive: true }, () => {
      sock.setRecvBufferSize(sock.getRecvBufferSize());
      const b = batchSender([sock]);
      if ('batch' in b) b.batch.sockaddr('127.0.0.1', 9, 0);
      done();
    });
  });
}

/** A logger of its own that writes nowhere: the first real line skips pino's cold serializing path. */
function warmUpLogLines(): void {
  const discard = createLogger('info', { write: () => {} }, { component: 'room', pid: process.pid });
  const child = discard.child({ room: 'warm-up' });
  child.info({ event: 'room_bound', port: 1, seq: 0, members: 0, incarnation: 1 }, 'room bound its port');
  child.warn({ event: 'warm_up', token: 'redacted-anyway' }, 'warm-up');
}

function warmUpRoom(log: Logger): void {
  const config = makeConfig({}, 'warm-up');
  const tokens = [1, 2].map((n) => `warm-up-token-${n}-not-a-real-one`);
  const members: MemberRecord[] = [1, 2].map((n) => ({
    member: `warm-${n}`,
    nick: `warm${n}`,
    tokenHash: hashToken(tokens[n - 1]!),
    address: '127.0.0.1',
    port: n,
  }));
  // The init message is validated the way a real one is.
  ToRoom.parse(JSON.parse(JSON.stringify({ type: 'init', room: 'warm-up', port: 0, config, members, leaves: [], journalPath: 'warm-up', incarnation: 1, seqCeiling: 0, leaseTo: 1 })));
  let flush: (() => void) | undefined;
  const room = new Room({
    name: 'warm-up',
    config,
    clock: new ManualClock(),
    journal: new MemoryJournal(),
    log: log.child({ room: 'warm-up' }, { level: 'silent' }),
    notify: () => {},
    transport: { send: () => {} },
    schedule: (fn) => {
      flush = fn;
    },
  });
  const turn = () => {
    const f = flush;
    flush = undefined;
    f?.();
  };
  room.restore(NOTHING_RESTORED, members.slice(0, 1));
  room.addMember(members[1]!);
  const from = (m: MemberRecord) => ({ address: m.address, port: m.port });
  const datagram = (m: MemberRecord, o: Record<string, unknown>) => room.handleDatagram(encode({ ...o, token: tokens[members.indexOf(m)] }), from(m));
  for (const m of members) datagram(m, { type: 'hb' });
  turn();
  for (let i = 0; i < WARM_SAYS; i++) {
    datagram(members[i % 2]!, { type: 'say', id: `w${i}`, text: 'warming up the fan-out path' });
    if (i % 8 === 7) turn();
  }
  datagram(members[0]!, { type: 'fetch', from: 1, to: 16 });
  datagram(members[0]!, { type: 'who', id: 'w' });
  datagram(members[1]!, { type: 'leave', id: 'l' });
  datagram(members[0]!, { type: 'say', id: 'bad' }); // an error reply too
  turn();
  room.close('warm-up');
  turn();
}
