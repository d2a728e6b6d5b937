// The room actor process: forked by the supervisor, told who it is by an
// `init` IPC message, then owns one UDP socket. It exits when told to, and
// by itself when the IPC channel closes (the supervisor died: no orphans).
import type { Socket } from 'node:dgram';
import { bindAll } from '../lib/bind-all.js';
import { monotonicMs, systemClock } from '../lib/clock.js';
import { DEFAULTS, makeConfig, type Config } from '../lib/config.js';
import { ChatError, toErrorInfo } from '../lib/errors.js';
import { installFatalHandlers } from '../lib/fatal.js';
import { errnoCode, storageCause } from '../lib/storage-errors.js';
import { FromRoom, POOLED_FLAG, ToRoom, type InitMsg, type StreamInit } from '../lib/ipc.js';
import { openStreamJournal } from './stream-open.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { openStdoutSink } from '../lib/log-sink.js';
import { FileJournal, readJournal } from './journal.js';
import type { Transport } from './outbox.js';
import { Room } from './room.js';
import { readSeqMark, SeqGuard, SeqMark, seqMarkPath, startingSeq } from './seq-guard.js';
import { deferStopSignals, ignoreHangup } from './stop-signals.js';
import { POOLED_ROOM_TITLE, roomTitle, STARTING_ROOM_TITLE } from '../lib/titles.js';
import { batchSender } from './udp-batch.js';
import { warmUp } from './warm-up.js';
import { reportStats, RoomCounters } from './stats.js';

let room: Room | undefined;
let guard: SeqGuard | undefined;
let initReceived = false;
/** A reload that came while the room was starting: applied once it serves. */
let pendingConfig: Config | undefined;
/** One per local address served (rooms/outbox.ts `via`). */
let sockets: Socket[] = [];
/** The room's counters to the supervisor, every statsIntervalMs once it serves. */
let stats: { stop(): void } | undefined;

/**
 * Closing a socket cancels the datagrams libuv still queues for it, so
 * shutdown waits (bounded) until the queue is empty: members must get
 * `closed`. Polled rather than counted with a callback per send, which would
 * cost on the fan-out path.
 */
function queued(s: Socket): boolean {
  try {
    return s.getSendQueueCount() > 0;
  } catch {
    return false; // closed
  }
}

async function whenDrained(timeoutMs: number): Promise<void> {
  const until = monotonicMs() + timeoutMs;
  while (sockets.some(queued) && monotonicMs() < until) {
    await new Promise((r) => setTimeout(r, 5));
  }
}
let log: Logger = createLogger('info', 'stdout', { component: 'room', pid: process.pid });
installFatalHandlers(() => log, openStdoutSink());
deferStopSignals({ log: () => log, graceMs: () => room?.config.shutdownTimeoutMs ?? DEFAULTS.shutdownTimeoutMs, stop: () => closeAndExit('shutdown') });
ignoreHangup(() => log);
// Until init names the room (at once for a process forked for a waiting room).
process.title = process.argv.includes(POOLED_FLAG) ? POOLED_ROOM_TITLE : STARTING_ROOM_TITLE;

function send(msg: FromRoom): void {
  // A disconnected channel means the supervisor is gone; exit follows.
  if (process.connected) process.send!(msg);
}

function exit(code: number): never {
  log.flush();
  process.exit(code);
}

/**
 * When the whole process group is signalled (Ctrl-C), the supervisor's
 * shutdown can arrive before this process has run its own signal handler
 * (the thread that caught the signal may not have been scheduled yet on a
 * busy machine): waiting this long before the exit lets it log the signal.
 * Only for `shutdown`; an empty room's exit is on a join's path.
 */
const SHUTDOWN_SETTLE_MS = 50;

/** Members get `closed {reason}`; exits 0 once the sends have left the socket (bounded). */
function closeAndExit(reason: string): void {
  room?.close(reason);
  stats?.stop();
  stats = undefined;
  void whenDrained(1_000).then(() =>
    setTimeout(
      () => {
        for (const s of sockets) s.close();
        exit(0);
      },
      reason === 'shutdown' ? SHUTDOWN_SETTLE_MS : 0,
    ),
  );
}

process.on('disconnect', () => {
  log.warn({ event: 'supervisor_gone' }, 'IPC channel closed; exiting');
  closeAndExit('shutdown');
});

process.on('message', (raw: unknown) => {
  const parsed = ToRoom.parse(raw);
  if (!parsed.ok) {
    log.error({ event: 'ipc_rejected', reason: parsed.message }, 'malformed IPC message from supervisor');
    return;
  }
  const msg = parsed.value;
  switch (msg.type) {
    case 'init':
      initReceived = true;
      return void start(msg).catch((err: unknown) => {
        log.error({ event: 'room_start_failed', err }, 'room failed to start');
        // The supervisor may pass this on to a client: a cause, never a path or a stack.
        const e = err instanceof ChatError ? err.toInfo() : errnoCode(err) ? { code: 'ROOM_UNAVAILABLE' as const, message: `the room cannot open its journal: ${storageCause(err)}` } : toErrorInfo(err);
        send({ type: 'fatal', code: e.code, message: e.message });
        exit(1);
      });
    case 'add':
      if (!room) return send({ type: 'failed', rid: msg.rid, code: 'ROOM_UNAVAILABLE', message: 'room not started' });
      return void room.addMemberStored(msg.record).then(
        (added) => send({ type: 'added', rid: msg.rid, ...added }),
        (err: unknown) => send({ type: 'failed', rid: msg.rid, ...toErrorInfo(err) }),
      );
    case 'remove': {
      if (!room) return send({ type: 'failed', rid: msg.rid, code: 'ROOM_UNAVAILABLE', message: 'room not started' });
      return send({ type: 'removed', rid: msg.rid, ...room.removeMember(msg.member, msg.ifUnproven) });
    }
    case 'ping':
      return send({ type: 'pong', rid: msg.rid });
    case 'leased':
      return guard?.granted(msg.upTo);
    case 'reconfigure':
      return reconfigure(msg.config);
    case 'shutdown':
      log.info({ event: 'room_stopping', reason: msg.reason }, 'room stopping');
      return closeAndExit(msg.reason);
    default: {
      const never: never = msg;
      throw new Error(`unhandled IPC message ${JSON.stringify(never)}`);
    }
  }
});

// A pooled process warms up while it waits; one forked for a room that is
// waiting gets its init at once and skips it.
if (process.argv.includes(POOLED_FLAG)) {
  setImmediate(() => {
    if (initReceived) return;
    const t0 = performance.now();
    warmUp(log).then(
      () => {
        log.debug({ event: 'room_warmed_up', warmUpMs: Math.round(performance.now() - t0) }, 'pooled room process warmed up');
        if (!initReceived) send({ type: 'idle' });
      },
      // Warming up is an optimization: a failure costs a slower start, nothing else.
      (err: unknown) => log.warn({ event: 'room_warm_up_failed', err }, 'warm-up failed'),
    );
  });
}

/** A config reload from the supervisor; a pooled process has no room yet, and its init will carry the new config. */
function reconfigure(raw: Record<string, unknown>): void {
  let next: Config;
  try {
    next = makeConfig(raw, 'reconfigure');
  } catch (err) {
    log.error({ event: 'ipc_rejected', reason: (err as Error).message }, 'reconfigure with an invalid config: ignored');
    return;
  }
  if (!initReceived) return;
  if (!room) {
    pendingConfig = next;
    return;
  }
  const changed = room.reconfigure(next);
  if (changed.length > 0) log.info({ event: 'room_reconfigured', changed }, 'room reconfigured');
}

async function start(init: InitMsg): Promise<void> {
  if (room) throw new Error('room already started');
  process.title = roomTitle(init.room);
  testFaults(init.incarnation);
  const config: Config = makeConfig(init.config, 'init');
  // A child of the logger made at load: a new pino instance would compile
  // its redaction again (~5 ms of a pooled room's start, measured with
  // performance.now() marks).
  log = log.child({ room: init.room }, { level: config.logLevel });
  if (init.stream) return startReplicated(init, init.stream, config);
  const restored = readJournal(init.journalPath);
  const markPath = seqMarkPath(init.journalPath);
  const mark = readSeqMark(markPath);
  const journalSeq = restored.events.at(-1)?.seq ?? 0;
  const start = startingSeq(journalSeq, mark, init.seqCeiling);
  guard = new SeqGuard(new SeqMark(markPath), init.leaseTo, { request: (upTo) => send({ type: 'lease', upTo }) });
  const addresses = init.addresses.length > 0 ? init.addresses : [config.host];
  const t = newTransport();
  const transport = Object.assign(t.transport, { use: t.use });
  const counters = new RoomCounters();
  const r = new Room({
    name: init.room,
    config,
    clock: systemClock,
    transport,
    journal: new FileJournal(init.journalPath, 2 * config.historySize, {
      mode: config.journalFsync,
      intervalMs: config.journalFsyncIntervalMs,
      observeFsync: (ms) => counters.fsync.observe(ms),
    }),
    notify: send,
    log,
    witness: guard,
    counters,
  });
  // Members are restored before the port is bound, so no member of a
  // restarted room ever sees NOT_MEMBER (protocol "A restarted room...").
  const report = r.restore(restored, init.members, init.leaves, start.seq);
  // The recovery decision, in one line (a lost journal or a lost tail is a warning).
  const lossy = report.lost > 0 || report.skipped > 0 || report.tornBytes > 0 || report.reordered > 0 || (init.incarnation > 1 && report.missing);
  log[lossy ? 'warn' : 'info'](
    {
      event: 'room_restored',
      incarnation: init.incarnation,
      basis: start.basis,
      journalSeq,
      mark: 'seq' in mark ? mark.seq : 'missing' in mark ? 'missing' : `invalid (${mark.invalid})`,
      seqCeiling: init.seqCeiling,
      seq: r.seq,
      lost: report.lost,
      events: report.events,
      skipped: report.skipped,
      reordered: report.reordered,
      tornBytes: report.tornBytes,
      journalMissing: report.missing,
    },
    report.lost > 0 ? `journal ends at ${journalSeq}; continuing above ${r.seq}: seqs ${journalSeq + 1}..${r.seq} are answered as gap` : 'room restored from its journal',
  );
  await serve(r, init, config, transport, addresses);
}

/** The transport's sockets, bound by serve(). */
function newTransport(): { transport: Transport; use(s: Socket[]): void } {
  let socks: Socket[] = [];
  return {
    // Throws on a closed socket: the Outbox counts it (sendErrors).
    transport: { send: (datagram, port, address, via) => socks[via]!.send(datagram, port, address) },
    use: (s) => {
      socks = s;
    },
  };
}

/** Binds the room's port on every served address (members are restored by now) and reports `ready`. */
async function serve(r: Room, init: InitMsg, config: Config, transport: Transport & { use?: (s: Socket[]) => void }, addresses: string[], members?: InitMsg['members']): Promise<void> {
  const bound = await bindAll(addresses, init.port, (sock, via) => sock.on('message', (buf, rinfo) => r.handleDatagram(buf, rinfo, via)));
  const socks = bound.sockets;
  transport.use?.(socks);
  const port = bound.port;
  for (const [via, sock] of socks.entries()) {
    sock.on('error', (err) => log.error({ event: 'socket_error', address: addresses[via], err }, 'room socket error'));
    sock.setRecvBufferSize(config.socketBufferBytes);
    sock.setSendBufferSize(config.socketBufferBytes);
  }
  // The sendmmsg path, if the config wants it and the native helper is there.
  const fanout = config.fanoutSendmmsg ? batchSender(socks) : { why: 'fanoutSendmmsg is false' };
  if ('batch' in fanout) transport.batch = fanout.batch;
  room = r;
  sockets = socks;
  if (pendingConfig) {
    const next = pendingConfig;
    pendingConfig = undefined;
    // After `ready`: a join is waiting for it, the reload is not.
    setImmediate(() => reconfigure({ ...next }));
  }
  // Ready first: the first log line of a room's logger costs ~1 ms, and a join is waiting.
  send(members ? { type: 'ready', port, seq: r.seq, members } : { type: 'ready', port, seq: r.seq });
  stats = reportStats(r, socks, config.statsIntervalMs, send);
  log.info(
    { event: 'room_bound', port, addresses, seq: r.seq, members: r.roster.size, incarnation: init.incarnation, fanout: 'batch' in fanout ? 'sendmmsg' : `dgram (${fanout.why})` },
    'room bound its port',
  );
}

/**
 * Cluster mode: the journal is the room's JetStream subject. Its seq,
 * history and `say` dedupe come from there; so do its members when it was
 * adopted (a failover, or this node's earlier life), else the supervisor's
 * are reconciled with it as a file journal's are.
 */
async function startReplicated(init: InitMsg, s: StreamInit, config: Config): Promise<void> {
  const opened = await openStreamJournal(s, init.room, init.incarnation, systemClock, log);
  const addresses = init.addresses.length > 0 ? init.addresses : [config.host];
  const t = newTransport();
  const r = new Room({ name: init.room, config, clock: systemClock, transport: t.transport, journal: opened.journal, notify: send, log });
  const members = s.adopt ? opened.rebuilt.members : init.members;
  const report = r.restore({ events: opened.rebuilt.events, skipped: opened.rebuilt.skipped }, members, init.leaves, 0, s.adopt);
  log.info(
    {
      event: 'room_restored',
      incarnation: init.incarnation,
      basis: 'stream',
      seq: r.seq,
      events: report.events,
      skipped: report.skipped,
      members: r.roster.size,
      adopted: s.adopt,
      previous: opened.rebuilt.lastClaim,
      claimedAt: opened.claimedAt,
      readMs: opened.readMs,
    },
    s.adopt ? 'room taken over from its journal' : 'room restored from its journal',
  );
  const transport = Object.assign(t.transport, { use: t.use });
  await serve(r, init, config, transport, addresses, s.adopt ? [...r.roster].map((m) => m.record()) : undefined);
}


/**
 * Test-only fault hooks, enabled by the CHATD_TEST_FAULT environment variable
 * and never reachable from the protocol or the config file. They let the
 * end-to-end tests produce the faults the supervisor must survive:
 * - `crash-on-start:N`: incarnations N and later exit(70) before binding;
 * - `hang-on-sigusr2`: SIGUSR2 sends the event loop into a busy loop;
 * - `bad-ipc-on-sigusr1`: SIGUSR1 makes the room send a malformed IPC message;
 * - `throw-on-sigusr1`: SIGUSR1 makes a timer throw (an uncaught exception).
 * Several may be given, separated by commas.
 */
function testFaults(incarnation: number): void {
  for (const fault of (process.env['CHATD_TEST_FAULT'] ?? '').split(',')) if (fault) testFault(fault, incarnation);
}


function testFault(fault: string, incarnation: number): void {
  const crash = /^crash-on-start:(\d+)$/.exec(fault);
  if (crash && incarnation >= Number(crash[1])) {
    log.warn({ event: 'test_fault', fault, incarnation }, 'test fault: crashing on start');
    log.flush();
    process.exit(70);
  }
  if (fault === 'bad-ipc-on-sigusr1') {
    process.on('SIGUSR1', () => process.send?.({ type: 'evicted', member: 42, seq: 'x' }));
  }
  if (fault === 'throw-on-sigusr1') {
    process.on('SIGUSR1', () => {
      setTimeout(() => {
        throw new Error('test fault: throw-on-sigusr1');
      }, 0);
    });
  }
  if (fault === 'hang-on-sigusr2') {
    process.on('SIGUSR2', () => {
      log.warn({ event: 'test_fault', fault, incarnation }, 'test fault: hanging');
      log.flush();
      for (;;) {
        // busy: the supervisor's IPC probe must notice
      }
    });
  }
}
