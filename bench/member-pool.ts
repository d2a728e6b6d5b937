// The driver's side of the member workers: starts W worker processes, has
// them join M members each, and gathers their per-tag delivery counts.
// Members of UDP targets (chatd, the raw relay) live in the native worker
// (bench/native/members.cc, spawned; NDJSON over stdin/stdout) when it can be
// built (bench/native-build.ts), else, like Socket.IO members, in forked Node
// workers (bench/members.ts, Node IPC). Both speak the messages of
// members-ipc.ts and report the same histograms, so their reports merge.
import { fork, spawn, type ChildProcess } from 'node:child_process';
import { EventEmitter } from 'node:events';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { nativeMembers } from './native-build.js';
import { cpuSeconds } from './proc-stat.js';
import { sigkill, track, waitGone } from '../test/helpers/pids.js';
import { LogHistogram } from './stats.js';
import type { FromWorker, TagReport, ToWorker, WorkerTarget } from './members-ipc.js';

const WORKER_MAIN = fileURLToPath(new URL('./members.js', import.meta.url));

export interface Totals {
  msgs: number;
  datagrams: number;
  lastUs: number;
  latency: LogHistogram;
}

/** One worker process, Node (IPC) or native (NDJSON on stdio); emits 'message' (FromWorker) and 'exit'. */
class MemberWorker extends EventEmitter {
  private exited = false;

  private constructor(
    readonly proc: ChildProcess,
    readonly native: boolean,
  ) {
    super();
    proc.once('exit', () => {
      this.exited = true;
      this.emit('exit');
    });
    // A spawn that failed (no 'exit' follows) or a broken pipe: the worker is gone.
    proc.on('error', () => {
      if (this.exited) return;
      this.exited = true;
      this.emit('exit');
    });
  }

  static node(i: number): MemberWorker {
    const p = fork(WORKER_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    if (p.pid !== undefined) track(p.pid, `member worker ${i}`);
    const w = new MemberWorker(p, false);
    p.on('message', (m) => w.emit('message', m as FromWorker));
    return w;
  }

  static native(binary: string, i: number): MemberWorker {
    const linger = process.env['CHATD_BENCH_NATIVE_LINGER_US'];
    const p = spawn(binary, linger ? ['--linger-us', linger] : [], { stdio: ['pipe', 'pipe', 'inherit'] });
    if (p.pid !== undefined) track(p.pid, `native member worker ${i}`);
    const w = new MemberWorker(p, true);
    p.stdin!.on('error', () => {
      /* EPIPE: the worker died; its 'exit' ends any pending ask */
    });
    createInterface({ input: p.stdout!, crlfDelay: Infinity }).on('line', (line) => {
      let m: FromWorker;
      try {
        m = JSON.parse(line) as FromWorker;
      } catch {
        m = { type: 'error', message: `unparseable output: ${line.slice(0, 200)}` };
      }
      w.emit('message', m);
    });
    return w;
  }

  get pid(): number | undefined {
    return this.proc.pid;
  }

  get alive(): boolean {
    if (this.exited || this.proc.exitCode !== null || this.proc.signalCode !== null) return false;
    return this.native ? this.proc.stdin?.writable === true : this.proc.connected;
  }

  send(m: ToWorker): void {
    if (!this.alive) return;
    if (this.native) this.proc.stdin!.write(JSON.stringify(m) + '\n');
    else this.proc.send(m);
  }
}

let announced = false;

export class MemberPool {
  private readonly workers: MemberWorker[] = [];

  private constructor(private readonly count: number) {}

  /**
   * A pool of `workers` processes per kind. They start at the first join,
   * when the target says which kind: native for chatd and the relay if it
   * can be built, else Node. CHATD_BENCH_NATIVE_WORKERS overrides the count
   * of native processes.
   */
  static start(workers: number): MemberPool {
    return new MemberPool(workers);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid).filter((p): p is number => p !== undefined);
  }

  /** CPU seconds used by all workers so far. */
  cpuSeconds(): number {
    return this.pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
  }

  /** The workers for a target, started on first use. */
  private async workersFor(target: WorkerTarget): Promise<MemberWorker[]> {
    const build = target.kind === 'socketio' ? undefined : await nativeMembers();
    if (build && !announced) {
      announced = true;
      process.stdout.write(`member driver: ${build.description}\n`);
    }
    const native = build?.binary !== undefined;
    const mine = this.workers.filter((w) => w.native === native);
    if (mine.length > 0) return mine;
    const n = native ? nativeCount(this.count) : this.count;
    for (let i = 0; i < n; i++) {
      const w = native ? MemberWorker.native(build!.binary!, i) : MemberWorker.node(i);
      this.workers.push(w);
      mine.push(w);
    }
    return mine;
  }

  /**
   * Joins `nicks` into the target's room, spread evenly over the workers;
   * worker i's UDP members get source addresses from block firstBlock + i
   * (see clientAddress).
   */
  async join(target: WorkerTarget, nicks: string[], firstBlock: number, timeoutMs = 30_000): Promise<void> {
    const workers = await this.workersFor(target);
    const n = workers.length;
    await Promise.all(
      workers.map((w, i) =>
        this.ask(w, { type: 'join', target, nicks: nicks.filter((_, k) => k % n === i), addressBlock: firstBlock + i }, 'joined', timeoutMs),
      ),
    );
  }

  /** What every worker's members received of one tag, summed. */
  async report(tag: string): Promise<Totals> {
    const parts = await Promise.all(this.workers.map((w) => this.ask(w, { type: 'report', tag }, 'report', 5_000)));
    const t: Totals = { msgs: 0, datagrams: 0, lastUs: 0, latency: new LogHistogram() };
    for (const p of parts as TagReport[]) {
      t.msgs += p.msgs;
      t.datagrams += p.datagrams;
      t.lastUs = Math.max(t.lastUs, p.lastUs);
      t.latency.merge(p.latency);
    }
    return t;
  }

  private ask(w: MemberWorker, msg: ToWorker, answer: FromWorker['type'], timeoutMs: number): Promise<FromWorker> {
    const what = `${w.native ? 'native ' : ''}member worker ${w.pid}`;
    if (!w.alive) return Promise.reject(new Error(`${what} is gone`));
    return new Promise((resolve, reject) => {
      const onMessage = (m: FromWorker) => {
        if (m.type === 'error') finish(new Error(`${what}: ${m.message}`));
        else if (m.type === answer && (m.type !== 'report' || msg.type !== 'report' || m.tag === msg.tag)) finish(undefined, m);
      };
      const onExit = () => finish(new Error(`${what} exited`));
      const timer = setTimeout(() => finish(new Error(`${what}: no ${answer} within ${timeoutMs} ms`)), timeoutMs);
      const finish = (err?: Error, m?: FromWorker) => {
        clearTimeout(timer);
        w.off('message', onMessage);
        w.off('exit', onExit);
        if (err) reject(err);
        else resolve(m!);
      };
      w.on('message', onMessage);
      w.once('exit', onExit);
      w.send(msg);
    });
  }

  /** Asks the workers to quit; SIGKILLs any still running after a second. */
  async stop(): Promise<void> {
    for (const w of this.workers) {
      w.send({ type: 'quit' });
      if (w.native) w.proc.stdin?.end();
    }
    for (const pid of this.pids) {
      if (!(await waitGone(pid, 1_000))) sigkill(pid);
    }
  }
}

/** Native processes per pool: CHATD_BENCH_NATIVE_WORKERS, else as many as Node workers. */
function nativeCount(workers: number): number {
  const v = process.env['CHATD_BENCH_NATIVE_WORKERS'];
  if (v === undefined || v === '') return workers;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`CHATD_BENCH_NATIVE_WORKERS=${v}: expected an integer >= 1`);
  return n;
}
