// One incarnation of a room actor: the forked child process, its typed IPC
// (requests matched by rid, each with a deadline) and its exit. Restarts
// create a new RoomProcess on the same port; see room-lifecycle.ts.
import { fork, type ChildProcess, type ForkOptions } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { fileURLToPath } from 'node:url';
import type { Config } from '../lib/config.js';
import { ChatError } from '../lib/errors.js';
import { FromRoom, POOLED_FLAG, type MemberRecord, type RoomReply, type ToRoom } from '../lib/ipc.js';
import type { Logger } from '../lib/logger.js';
import { relayLines, type LineSink } from './log-relay.js';
import type { ExitInfo } from './restart-policy.js';
import type { RoomHandle, RoomHandleEvents, RoomRequestMsg, StartSpec, Unsolicited } from './room-handle.js';
import { systemClock, type Clock, type Timer } from '../lib/clock.js';
import { TITLE_ROOM_ARG } from '../lib/titles.js';

const ROOM_MAIN = fileURLToPath(new URL('../rooms/main.js', import.meta.url));

/** child_process.fork, injectable so tests can make forks fail in memory. */
export type ForkFn = (modulePath: string, args: readonly string[], options: ForkOptions) => ChildProcess;

/** Why a fork failed, for members and operators: the errno's meaning, never a path. */
const SPAWN_ERRORS: Record<string, string> = {
  EMFILE: 'too many open files',
  ENFILE: 'too many open files in the system',
  EAGAIN: 'too many processes',
  ENOMEM: 'out of memory',
  EACCES: 'permission denied',
  ENOENT: 'program not found',
};

export function spawnFailureMessage(code: string): string {
  return `cannot start a room process: ${SPAWN_ERRORS[code] ?? code}`;
}

export type ProcessStatus = 'starting' | 'running' | 'stopping' | 'exited';
export type { StartSpec, Unsolicited };

export class RoomProcess extends EventEmitter<RoomHandleEvents> implements RoomHandle {
  status: ProcessStatus = 'starting';
  /** A pooled process that has warmed up and is idle, waiting for init. */
  warm = false;
  port = 0;
  /** Set when the process could not be started at all (errno code, e.g. EMFILE). */
  spawnError: string | undefined;
  private readonly child: ChildProcess | undefined;
  private spawned = false;
  private nextRid = 1;
  private readonly pending = new Map<number, { resolve: (r: RoomReply) => void; reject: (e: Error) => void; timer: Timer }>();
  private readonly exited: Promise<ExitInfo>;
  private probeTimer: Timer | undefined;
  private startWaiter: ((m: Extract<FromRoom, { type: 'ready' | 'fatal' }>) => void) | undefined;
  private initSent = false;

  constructor(
    /** Replaced by reconfigure (a reload). */
    private config: Config,
    private readonly log: Logger,
    logSink: LineSink,
    env: NodeJS.ProcessEnv = process.env,
    pooled = false,
    forkFn: ForkFn = fork,
    private readonly clock: Clock = systemClock,
  ) {
    super();
    let resolveExited!: (info: ExitInfo) => void;
    this.exited = new Promise((resolve) => (resolveExited = resolve));
    const gone = (info: ExitInfo) => {
      if (this.status === 'exited') return;
      const expected = this.status === 'stopping';
      this.status = 'exited';
      this.clearTimer(this.probeTimer);
      for (const p of this.pending.values()) {
        this.clearTimer(p.timer);
        p.reject(new ChatError('ROOM_UNAVAILABLE', 'the room process exited'));
      }
      this.pending.clear();
      this.emit('exit', { ...info, expected });
      resolveExited(info);
    };
    // A failed spawn must look like an exit, or whoever waits for the exit
    // (a start, a stop, the restart loop, the pool) waits for ever.
    const failed = (err: unknown) => {
      if (this.status === 'exited') return; // e.g. a send's EPIPE after the spawn's EAGAIN
      this.spawnError = errnoCode(err);
      gone({ code: null, signal: null, spawnError: this.spawnError });
    };
    let child: ChildProcess | undefined;
    try {
      child = forkFn(ROOM_MAIN, pooled ? [POOLED_FLAG, TITLE_ROOM_ARG] : [TITLE_ROOM_ARG], { stdio: ['ignore', 'pipe', 'inherit', 'ipc'], env, serialization: 'json' });
    } catch (err) {
      // fork() throws for some errnos (ENOMEM, ...) where others only emit
      // 'error'. Deferred, so the caller has attached its listeners.
      process.nextTick(failed, err);
    }
    this.child = child;
    if (!child) return;
    if (child.stdout) relayLines(child.stdout, logSink);
    child.once('spawn', () => {
      this.spawned = true;
      this.emit('spawned');
    });
    child.once('exit', (code, signal) => gone({ code, signal }));
    child.on('message', (raw: unknown) => this.onMessage(raw));
    child.on('error', (err) => {
      // No pid: the spawn failed, and Node emits no 'exit' for that.
      if (!this.spawned && child.pid === undefined) return failed(err);
      this.log.error({ event: 'room_process_error', roomPid: this.pid, err }, 'room process error');
    });
  }

  private clearTimer(t: Timer | undefined): void {
    if (t) this.clock.clearTimeout(t);
  }

  adopted: MemberRecord[] | undefined;

  get pid(): number | undefined {
    return this.child?.pid;
  }

  /** Sends init and resolves with the bound port once the room is ready (members restored). */
  start(spec: StartSpec): Promise<number> {
    if (this.status === 'exited') return Promise.reject(this.exitedWhileStarting());
    return new Promise((resolve, reject) => {
      const settle = (err?: Error) => {
        this.clearTimer(timer);
        this.off('exit', onExit);
        this.startWaiter = undefined;
        if (err) reject(err);
        else resolve(this.port);
      };
      const timer = this.clock.setTimeout(() => {
        settle(new ChatError('ROOM_UNAVAILABLE', 'the room did not start in time'));
        this.kill();
      }, this.config.roomStartTimeoutMs);
      const onExit = () => settle(this.exitedWhileStarting());
      this.once('exit', onExit);
      this.startWaiter = (m) => {
        if (m.type === 'fatal') return settle(new ChatError('ROOM_UNAVAILABLE', `the room failed to start: ${m.message}`));
        this.port = m.port;
        this.adopted = m.members;
        this.status = 'running';
        settle();
      };
      this.initSent = true;
      this.post({ type: 'init', ...spec, config: { ...this.config } });
    });
  }

  reconfigure(config: Config): void {
    this.config = config;
    // A process still waiting for its init gets the new config with it.
    if (this.initSent) this.post({ type: 'reconfigure', config: { ...config } });
  }

  /** Tells the room its seq ceiling is now upTo (the supervisor has recorded it). */
  grantLease(upTo: number): void {
    if (this.status === 'running' || this.status === 'starting') this.post({ type: 'leased', upTo });
  }

  /** A request with a deadline; rejects with ROOM_UNAVAILABLE if the room dies or is too slow. */
  request(msg: RoomRequestMsg, timeoutMs = this.config.ipcTimeoutMs): Promise<RoomReply> {
    if (this.status !== 'running') return Promise.reject(new ChatError('ROOM_UNAVAILABLE'));
    const rid = this.nextRid++;
    return new Promise((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(rid);
        reject(new ChatError('ROOM_UNAVAILABLE', 'the room did not answer in time'));
      }, timeoutMs);
      this.pending.set(rid, { resolve, reject, timer });
      this.post({ ...msg, rid } as Extract<ToRoom, { rid: number }>);
    });
  }

  /** Asks the room to close (members get `closed`), then SIGKILLs it after timeoutMs. */
  async stop(reason: string, timeoutMs: number): Promise<ExitInfo> {
    if (this.status === 'exited') return this.exited;
    this.status = 'stopping';
    this.post({ type: 'shutdown', reason });
    const timer = this.clock.setTimeout(() => {
      this.log.warn({ event: 'room_kill', roomPid: this.pid, reason: 'shutdown timeout' }, 'room did not stop in time; killing');
      this.kill();
    }, timeoutMs);
    const info = await this.exited;
    this.clearTimer(timer);
    return info;
  }

  /**
   * Pings the room every probeIntervalMs; a room that has not answered
   * within probeTimeoutMs has a stuck event loop (it cannot even read IPC):
   * 'hung' is emitted once and probing stops. One ping in flight at a time.
   */
  startProbing(): void {
    const tick = () => {
      if (this.status !== 'running') return;
      this.request({ type: 'ping' }, this.config.probeTimeoutMs).then(
        () => {
          this.probeTimer = this.clock.setTimeout(tick, this.config.probeIntervalMs);
          this.probeTimer.unref?.();
        },
        () => {
          if (this.status === 'running') this.emit('hung');
        },
      );
    };
    this.probeTimer = this.clock.setTimeout(tick, this.config.probeIntervalMs);
    this.probeTimer.unref?.();
  }

  kill(): void {
    if (this.status !== 'exited') this.child?.kill('SIGKILL');
  }

  whenExited(): Promise<ExitInfo> {
    return this.exited;
  }

  private post(msg: ToRoom): void {
    if (this.status !== 'exited' && this.child?.connected) this.child.send(msg);
  }

  private exitedWhileStarting(): ChatError {
    return new ChatError('ROOM_UNAVAILABLE', this.spawnError ? spawnFailureMessage(this.spawnError) : 'the room process exited while starting');
  }

  private onMessage(raw: unknown): void {
    const parsed = FromRoom.parse(raw);
    if (!parsed.ok) {
      // IPC is trusted but checked: a room that says nonsense is not
      // believed, and its state is suspect, so it is killed and restarted
      // from the journal and the supervisor's roster (the restart policy applies).
      this.log.error({ event: 'ipc_rejected', roomPid: this.pid, reason: parsed.message }, 'malformed IPC message from room; killing it');
      this.kill();
      return;
    }
    const m = parsed.value;
    switch (m.type) {
      case 'idle':
        if (this.status !== 'starting' || this.startWaiter) return; // init already sent: too late to matter
        this.warm = true;
        this.emit('warm');
        return;
      case 'ready':
      case 'fatal':
        return this.startWaiter?.(m);
      case 'added':
      case 'removed':
      case 'pong':
      case 'failed': {
        const p = this.pending.get(m.rid);
        if (!p) return;
        this.pending.delete(m.rid);
        this.clearTimer(p.timer);
        return m.type === 'failed' ? p.reject(new ChatError(m.code, m.message)) : p.resolve(m);
      }
      case 'left':
      case 'evicted':
      case 'proven':
      case 'moved':
      case 'departed':
      case 'fenced':
        this.emit('notice', m);
        return;
      case 'lease':
        this.emit('lease', m.upTo);
        return;
      case 'stats':
        this.emit('stats', m);
        return;
      default: {
        const never: never = m;
        throw new Error(`unhandled room message ${JSON.stringify(never)}`);
      }
    }
  }
}

function errnoCode(err: unknown): string {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'UNKNOWN';
}
