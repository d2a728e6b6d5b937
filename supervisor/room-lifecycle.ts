// A room's life: created on its first join, run as a series of incarnations
// (room processes) on one port, restarted or given up when a process dies
// (restart-policy.ts decides; this carries the decision out), deleted when
// empty. Call createRoom and deleteRoom inside the room's mailbox; exits
// enter the mailbox themselves.
import type { Timer } from '../lib/clock.js';
import { encode } from '../lib/codec.js';
import { restartPolicyOf } from '../lib/config.js';
import { ChatError } from '../lib/errors.js';
import { LEASE_SPAN } from '../lib/ipc.js';
import { dropJournal, newJournalPath } from './journals.js';
import type { LineSink } from './log-relay.js';
import { decideRestart, isAbnormal, type ExitInfo } from './restart-policy.js';
import type { LifecycleDeps, NoticeDeps, RoomHost } from './deps.js';
import { keyHashHex, type RoomEntry } from './room-entry.js';
import { endpointKey } from '../lib/endpoint.js';
import { nickKey } from '../lib/names.js';
import type { RoomHandle, SpawnRoom } from './room-handle.js';
import { applyNotice } from './room-notices.js';
import { RoomProcess, spawnFailureMessage, type ForkFn } from './room-process.js';

const ROOM_PORT_ATTEMPTS = 5;
/**
 * The pool refills this long after a take. A fork blocks the supervisor for
 * a few ms (spawn) and then loads modules on a core for ~150 ms: done at
 * once, it landed between the taken process's init and the join's reply and
 * doubled that join's latency (bench scenario 2). 50 ms covers the init ->
 * ready -> add -> joined exchange with room to spare.
 */
const POOL_REFILL_DELAY_MS = 50;
/**
 * While forks fail (EMFILE, EAGAIN, ENOMEM: the machine is short of
 * something), the pool retries after this, doubling per failure up to the
 * maximum, rather than forking in a loop; a fork that works again resets it.
 */
const POOL_RETRY_MIN_MS = 200;
const POOL_RETRY_MAX_MS = 10_000;

export interface RoomLifecycleOptions {
  /** Where room log lines are relayed (the supervisor's own destination). */
  logSink: LineSink;
  /** Environment for room processes. */
  roomEnv: NodeJS.ProcessEnv;
  /** Jitter source for restart backoff. */
  random: () => number;
  /** child_process.fork unless a test says otherwise. */
  fork?: ForkFn;
  /** Makes room handles; a forked RoomProcess by default (tests give fakes). */
  spawn?: SpawnRoom;
  /** Told of every incarnation and restart decision (the admin listener's book: supervisor/admin/room-stats.ts). */
  observer?: RoomObserver;
}

export interface RoomObserver {
  incarnation(entry: RoomEntry, proc: RoomHandle): void;
  restarting(entry: RoomEntry, exit: ExitInfo, delayMs: number, inWindow: number): void;
  gaveUp(entry: RoomEntry, exit: ExitInfo, reason: string): void;
}

export class RoomLifecycle implements RoomHost {
  /** Every room process not yet exited, including those of rooms being deleted and idle pooled ones. */
  private readonly live = new Set<RoomHandle>();
  /**
   * Forked room processes waiting for their `init` (roomPoolSize): a new room
   * or a restart takes one instead of waiting for a fork (~100-200 ms).
   */
  private pool: RoomHandle[] = [];
  private portCursor: number;
  /** Forks that failed in a row; the pool's retry delay grows with it. */
  private forkFailures = 0;
  /** The pool's next attempt after a failed fork; no refill before it. */
  private poolRetry: Timer | undefined;

  private readonly spawn: SpawnRoom;
  /** What room notices (room-notices.ts) may reach: this life cycle deletes rooms for them. */
  private readonly noticeDeps: NoticeDeps;

  constructor(
    private readonly d: LifecycleDeps,
    private readonly o: RoomLifecycleOptions,
  ) {
    this.portCursor = d.config.roomPortMin;
    this.spawn = o.spawn ?? ((pooled) => new RoomProcess(d.config, d.log, o.logSink, o.roomEnv, pooled, o.fork, d.clock));
    this.noticeDeps = {
      // The supervisor's config of the moment: a reload replaces it.
      get config() {
        return d.config;
      },
      clock: d.clock,
      log: d.log,
      registry: d.registry,
      replay: d.replay,
      mailboxes: d.mailboxes,
      host: this,
    };
  }

  async createRoom(name: string, key: string | undefined): Promise<RoomEntry> {
    const sup = this.d;
    // Cluster mode: the name is claimed in the directory first; a node that lost the race refuses.
    await sup.cluster?.claimNew(name, keyHashHex(key));
    const entry = sup.registry.create(name, key, newJournalPath(sup.config, name));
    // With a configured port range, try a few free ports in turn: another
    // program may hold one (the room then fails to bind and says so).
    const candidates = sup.config.roomPortMax === 0 ? [0] : this.freeRoomPorts(ROOM_PORT_ATTEMPTS);
    let lastErr: unknown = new ChatError('ROOM_UNAVAILABLE', 'no free room port in the configured range');
    for (const port of candidates) {
      entry.port = port;
      try {
        await this.startIncarnation(entry);
        await sup.cluster?.serving(name, entry.port, 0, entry.keyHashHex);
        return entry;
      } catch (err) {
        lastErr = err;
        if (entry.proc?.spawnError) break; // no process at all: another port will not help
      }
    }
    entry.proc?.kill();
    await this.forget(entry);
    sup.log.warn({ event: 'room_create_failed', room: name, reason: (lastErr as Error).message }, 'room not created; join refused');
    throw lastErr;
  }

  /**
   * Cluster mode: this node won a room whose node was lost. It starts from
   * its journal (members, seq, history, dedupe) on a port of this node, and
   * the directory then points there. Call inside the room's mailbox.
   */
  async adoptRoom(name: string, keyHashHex: string | undefined): Promise<void> {
    const sup = this.d;
    const stale = sup.registry.get(name);
    if (stale) await this.releaseRoom(stale);
    const entry = sup.registry.create(name, undefined, newJournalPath(sup.config, name), keyHashHex);
    entry.adopt = true;
    entry.port = sup.config.roomPortMax === 0 ? 0 : (this.freeRoomPorts(1)[0] ?? 0);
    try {
      await this.startIncarnation(entry);
      await sup.cluster!.serving(name, entry.port, entry.members.size, entry.keyHashHex);
    } catch (err) {
      entry.proc?.kill();
      sup.registry.drop(entry);
      throw err;
    }
  }

  async releaseRoom(entry: RoomEntry): Promise<void> {
    const sup = this.d;
    entry.released = true;
    sup.registry.beginDelete(entry);
    // 'moved': the room closes without a word to its members; they ask `where`.
    await entry.proc?.stop('moved', sup.config.shutdownTimeoutMs);
    sup.registry.drop(entry);
    sup.log.info({ event: 'room_released', room: entry.name }, 'room released to the node that holds it now');
  }

  /** Deletes an empty room: its process exits and its port is released. */
  async deleteRoom(entry: RoomEntry, reason: string): Promise<void> {
    const sup = this.d;
    sup.registry.beginDelete(entry);
    const exit = await entry.proc?.stop(reason, sup.config.shutdownTimeoutMs);
    await this.forget(entry);
    sup.log.info({ event: 'room_stopped', room: entry.name, reason, code: exit?.code, signal: exit?.signal }, 'room stopped');
  }

  /** Kills every room process not yet exited (pooled ones too), without waiting. */
  killAll(): void {
    this.pool = [];
    this.cancelPoolRetry();
    for (const p of this.live) p.kill();
  }

  /**
   * A config reload (the supervisor's config is already the new one): every
   * room process hears of it, and the pool grows or shrinks to roomPoolSize
   * (idle processes beyond it are stopped; none is in use).
   */
  reconfigure(next: LifecycleDeps['config']): void {
    for (const p of this.live) p.reconfigure?.(next);
    const surplus = this.pool.splice(next.roomPoolSize);
    for (const p of surplus) void p.stop('pool', next.shutdownTimeoutMs);
    this.fillPool();
  }

  /** Tops the pool up to roomPoolSize (called at start and after each take). */
  fillPool(): void {
    const sup = this.d;
    if (this.poolRetry) return;
    while (sup.running() && this.pool.length < sup.config.roomPoolSize) {
      const proc = this.fork(true);
      const forkedAt = performance.now();
      this.pool.push(proc);
      proc.once('warm', () =>
        sup.log.info(
          { event: 'pool_process_ready', roomPid: proc.pid, readyMs: Math.round(performance.now() - forkedAt) },
          'pooled room process warmed up and idle',
        ),
      );
      // An idle process that dies is just dropped; the next take refills.
      proc.once('exit', () => {
        this.pool = this.pool.filter((p) => p !== proc);
      });
      sup.log.debug({ event: 'pool_process_forked', roomPid: proc.pid }, 'room process forked for the pool');
    }
  }

  /** A pooled process if there is one, else a fresh fork; the pool refills in the background. */
  private takeProcess(): RoomHandle {
    // A warmed-up process first: one still loading is barely ahead of a fresh fork.
    const i = this.pool.findIndex((p) => p.warm);
    const [pooled] = this.pool.splice(i >= 0 ? i : 0, 1);
    // Also when the pool was empty (its processes died or could not be forked): it refills.
    if (this.d.config.roomPoolSize > 0) this.d.clock.setTimeout(() => this.fillPool(), POOL_REFILL_DELAY_MS).unref?.();
    return pooled ?? this.fork();
  }

  private fork(pooled = false): RoomHandle {
    const sup = this.d;
    const proc = this.spawn(pooled);
    this.live.add(proc);
    proc.once('spawned', () => {
      if (this.forkFailures === 0) return;
      sup.log.info({ event: 'room_fork_recovered', failures: this.forkFailures }, 'room processes can be forked again');
      this.forkFailures = 0;
      // The pool need not wait out its retry delay any more.
      if (this.poolRetry) {
        this.cancelPoolRetry();
        sup.clock.setTimeout(() => this.fillPool(), POOL_REFILL_DELAY_MS).unref?.();
      }
    });
    proc.once('exit', (exit) => {
      this.live.delete(proc);
      if (exit.spawnError) this.forkFailed(exit.spawnError, pooled);
    });
    return proc;
  }

  /**
   * Counts a failed fork. A room's own fork is logged by its owner (room_create_failed,
   * room_exit); a pooled one is logged here with the pool's decision: when it tries again.
   */
  private forkFailed(error: string, pooled: boolean): void {
    const sup = this.d;
    this.forkFailures++;
    if (!pooled || this.poolRetry || !sup.running()) return;
    const retryMs = Math.min(POOL_RETRY_MAX_MS, POOL_RETRY_MIN_MS * 2 ** (this.forkFailures - 1));
    this.poolRetry = sup.clock.setTimeout(() => {
      this.poolRetry = undefined;
      this.fillPool();
    }, retryMs);
    this.poolRetry.unref?.();
    sup.log.warn({ event: 'pool_fork_failed', error, failures: this.forkFailures, retryMs }, `${spawnFailureMessage(error)}; pool retries in ${retryMs} ms`);
  }

  private cancelPoolRetry(): void {
    if (this.poolRetry) this.d.clock.clearTimeout(this.poolRetry);
    this.poolRetry = undefined;
  }

  /** Up to n ports of [roomPortMin, roomPortMax] that no room holds, starting after the last one handed out. */
  private freeRoomPorts(n: number): number[] {
    const { roomPortMin: lo, roomPortMax: hi } = this.d.config;
    const used = new Set(this.d.registry.list().map((e) => e.port));
    const out: number[] = [];
    const span = hi - lo + 1;
    for (let i = 0; i < span && out.length < n; i++) {
      const p = lo + ((this.portCursor - lo + i + span) % span);
      if (!used.has(p)) out.push(p);
    }
    if (out.length > 0) this.portCursor = out[0]! + 1 > hi ? lo : out[0]! + 1;
    return out;
  }

  private async startIncarnation(entry: RoomEntry): Promise<void> {
    const sup = this.d;
    entry.incarnation++;
    const proc = this.takeProcess();
    entry.proc = proc;
    this.o.observer?.incarnation(entry, proc);
    proc.on('notice', (m) => applyNotice(this.noticeDeps, entry, m));
    proc.on('lease', (upTo) => {
      // Recorded before it is granted: a crash right after leaves the ceiling above every seq handed out.
      if (entry.proc !== proc) return;
      entry.seqCeiling = Math.max(entry.seqCeiling, upTo);
      proc.grantLease(entry.seqCeiling);
    });
    proc.on('hung', () => {
      // A busy loop cannot answer IPC: kill it and let the restart policy decide.
      sup.log.error(
        { event: 'room_hung', room: entry.name, roomPid: proc.pid, probeTimeoutMs: sup.config.probeTimeoutMs },
        'room stopped answering; killing it',
      );
      proc.kill();
    });
    proc.on('exit', (exit) => {
      if (!exit.expected && entry.proc === proc && sup.running() && !entry.released) {
        void sup.mailboxes.serialize(entry.name, () => this.recover(entry, proc, exit));
      }
    });
    const t0 = sup.clock.now();
    const seqCeiling = entry.seqCeiling;
    entry.seqCeiling += LEASE_SPAN;
    entry.port = await proc.start({
      room: entry.name,
      port: entry.port,
      addresses: [...sup.served],
      members: entry.records(),
      leaves: entry.recentLeaves,
      journalPath: entry.journalPath,
      incarnation: entry.incarnation,
      seqCeiling,
      leaseTo: entry.seqCeiling,
      ...(sup.cluster ? { stream: sup.cluster.streamInit(entry.name, entry.adopt) } : {}),
    });
    if (entry.adopt) {
      // The members the journal holds: this node's registry learns them now.
      for (const r of proc.adopted ?? []) {
        sup.registry.addMember(entry, { member: r.member, nick: r.nick, nickKey: nickKey(r.nick), tokenHash: r.tokenHash, address: r.address, port: r.port, endpoint: endpointKey(r), via: 0, proven: true });
      }
      entry.adopt = false;
    }
    sup.registry.setState(entry, 'running');
    proc.startProbing();
    sup.log.info(
      { event: 'room_started', room: entry.name, roomPid: proc.pid, port: entry.port, incarnation: entry.incarnation, startMs: sup.clock.now() - t0 },
      'room started',
    );
  }

  /** Carries out the restart decision for a room whose process died unexpectedly. */
  private async recover(entry: RoomEntry, proc: RoomHandle, exit: ExitInfo): Promise<void> {
    const sup = this.d;
    for (;;) {
      if (entry.proc !== proc || !sup.registry.isCurrent(entry) || !sup.running()) return;
      sup.registry.setState(entry, 'restarting');
      const now = sup.clock.now();
      const d = decideRestart(exit, entry.restarts, now, restartPolicyOf(sup.config, entry.name), this.o.random);
      entry.restarts = d.history;
      sup.log[d.action === 'restart' ? 'warn' : 'error'](
        {
          event: 'room_exit',
          room: entry.name,
          roomPid: proc.pid,
          code: exit.code,
          signal: exit.signal,
          spawnError: exit.spawnError,
          restartsInWindow: d.history.length,
          decision: d.action,
          delayMs: d.action === 'restart' ? d.delayMs : undefined,
          reason: d.action === 'give-up' ? d.reason : undefined,
        },
        d.action === 'restart' ? 'room crashed; restarting' : 'room crashed; giving up',
      );
      if (d.action === 'give-up') this.o.observer?.gaveUp(entry, exit, d.reason);
      else this.o.observer?.restarting(entry, exit, d.delayMs, d.history.length);
      if (d.action === 'give-up') return this.giveUp(entry, isAbnormal(exit) ? 'crashed' : 'stopped');
      if (d.delayMs > 0) await new Promise<void>((resolve) => sup.clock.setTimeout(resolve, d.delayMs));
      if (!sup.registry.isCurrent(entry) || !sup.running()) return;
      try {
        await this.startIncarnation(entry);
        return;
      } catch (err) {
        sup.log.error({ event: 'room_restart_failed', room: entry.name, err }, 'room restart failed');
        proc = entry.proc!; // the failed incarnation: the loop goes on for it
        exit = await proc.whenExited();
      }
    }
  }

  /** The room cannot be kept: members hear `closed` from the control endpoint (the room process is dead). */
  private giveUp(entry: RoomEntry, reason: string): Promise<void> {
    const closed = encode({ type: 'closed', room: entry.name, reason });
    for (const m of entry.members.values()) {
      if (m.proven) this.d.reply.send({ ...(m.moved ?? m), via: m.via }, closed);
    }
    return this.forget(entry);
  }

  /** Removes a room from the registry and its members from the endpoint counts; its journal goes (cluster mode: and its name). */
  private async forget(entry: RoomEntry): Promise<void> {
    this.d.registry.drop(entry);
    dropJournal(this.d.config, entry.journalPath);
    await this.d.cluster?.forget(entry.name);
  }
}
