// The driver's side of the member workers: forks W worker processes, has
// them join M members each, and gathers their per-tag delivery counts.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { cpuSeconds } from './proc-stat.js';
import { sigkill, track, waitGone } from './pids.js';
import { LogHistogram } from './stats.js';
import type { FromWorker, TagReport, ToWorker, WorkerTarget } from './members-ipc.js';

const WORKER_MAIN = fileURLToPath(new URL('./members.js', import.meta.url));

export interface Totals {
  msgs: number;
  datagrams: number;
  lastUs: number;
  latency: LogHistogram;
}

export class MemberPool {
  private constructor(private readonly workers: ChildProcess[]) {}

  /** Forks `workers` processes (each registered for cleanup). */
  static start(workers: number): MemberPool {
    const procs: ChildProcess[] = [];
    for (let i = 0; i < workers; i++) {
      const p = fork(WORKER_MAIN, [], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
      if (p.pid !== undefined) track(p.pid, `member worker ${i}`);
      procs.push(p);
    }
    return new MemberPool(procs);
  }

  get pids(): number[] {
    return this.workers.map((w) => w.pid!).filter((p) => p !== undefined);
  }

  /** CPU seconds used by all workers so far. */
  cpuSeconds(): number {
    return this.pids.reduce((s, p) => s + (cpuSeconds(p) || 0), 0);
  }

  /**
   * Joins `nicks` into the target's room, spread evenly over the workers;
   * worker i's UDP members get source addresses from block firstBlock + i
   * (see clientAddress).
   */
  async join(target: WorkerTarget, nicks: string[], firstBlock: number, timeoutMs = 30_000): Promise<void> {
    const n = this.workers.length;
    await Promise.all(
      this.workers.map((w, i) =>
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

  private ask(w: ChildProcess, msg: ToWorker, answer: FromWorker['type'], timeoutMs: number): Promise<FromWorker> {
    if (!w.connected) return Promise.reject(new Error(`member worker ${w.pid} is gone`));
    return new Promise((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        const m = raw as FromWorker;
        if (m.type === 'error') finish(new Error(`member worker ${w.pid}: ${m.message}`));
        else if (m.type === answer && (m.type !== 'report' || msg.type !== 'report' || m.tag === msg.tag)) finish(undefined, m);
      };
      const onExit = () => finish(new Error(`member worker ${w.pid} exited`));
      const timer = setTimeout(() => finish(new Error(`member worker ${w.pid}: no ${answer} within ${timeoutMs} ms`)), timeoutMs);
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
      if (w.connected) w.send({ type: 'quit' } satisfies ToWorker);
    }
    for (const pid of this.pids) {
      if (!(await waitGone(pid, 1_000))) sigkill(pid);
    }
  }
}
