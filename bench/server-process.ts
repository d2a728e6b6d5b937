// Forks a baseline server of the comparison (relay-udp.js, socketio-server.js),
// waits for the port it reports over IPC, and stops it: SIGTERM, then SIGKILL.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { sigkill, track, waitGone } from '../test/helpers/pids.js';

export interface ServerProcess {
  pid: number;
  port: number;
  exitInfo(): { code: number | null; signal: NodeJS.Signals | null } | undefined;
  stop(): Promise<void>;
}

/** `script` is a file of build/bench/; `nodeArgs` go to node before it (e.g. --cpu-prof). */
export async function startServer(script: string, args: string[], what: string, nodeArgs: string[] = []): Promise<ServerProcess> {
  const file = fileURLToPath(new URL(`./${script}`, import.meta.url));
  const proc: ChildProcess = fork(file, args, { stdio: ['ignore', 'inherit', 'inherit', 'ipc'], execArgv: [...process.execArgv, ...nodeArgs] });
  const pid = proc.pid;
  if (pid === undefined) throw new Error(`cannot start ${file}`);
  track(pid, what);
  let exitInfo: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<void>((resolve) =>
    proc.once('exit', (code, signal) => {
      exitInfo = { code, signal };
      resolve();
    }),
  );
  try {
    const port = await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${what}: no listening message within 10 s`)), 10_000);
      proc.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${what} exited before listening (code ${code}, signal ${signal})`));
      });
      proc.on('message', (m: unknown) => {
        const msg = m as { type?: string; port?: number };
        if (msg.type === 'listening' && typeof msg.port === 'number') {
          clearTimeout(timer);
          resolve(msg.port);
        }
      });
    });
    return {
      pid,
      port,
      exitInfo: () => exitInfo,
      stop: async () => {
        if (!exitInfo) {
          proc.kill('SIGTERM');
          if (!(await waitGone(pid, 3_000))) sigkill(pid);
          await exited;
        }
      },
    };
  } catch (err) {
    sigkill(pid);
    await exited;
    throw err;
  }
}
