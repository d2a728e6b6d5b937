// The native member worker (bench/native/members.cc): compiled with g++ at
// bench time, the first time a member pool needs it, if the binary is
// missing or older than the source. Without g++, or if the compile fails,
// the bench uses the Node member workers (bench/members.ts) instead.
//   CHATD_BENCH_DRIVER=node    always the Node workers
//   CHATD_BENCH_DRIVER=native  the native worker, or fail the bench if it cannot be built
//   (unset)                    the native worker if it builds, else the Node workers
import { execFile } from 'node:child_process';
import { mkdirSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root (this file runs as build/bench/native-build.js). */
const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const NATIVE_SOURCE = fileURLToPath(new URL('../../bench/native/members.cc', import.meta.url));
export const NATIVE_BINARY = fileURLToPath(new URL('./native-members', import.meta.url));
const COMPILE_TIMEOUT_MS = 120_000;

export type DriverChoice = 'auto' | 'node' | 'native';

export function driverChoice(): DriverChoice {
  const v = (process.env['CHATD_BENCH_DRIVER'] ?? '').trim().toLowerCase();
  if (v === '' || v === 'auto') return 'auto';
  if (v === 'node' || v === 'native') return v;
  throw new Error(`CHATD_BENCH_DRIVER=${v}: expected node, native or auto`);
}

export interface NativeBuild {
  /** The binary, or undefined when the Node workers are to be used. */
  binary: string | undefined;
  /** For the bench's output: which driver, and why. */
  description: string;
}

function mtimeMs(path: string): number | undefined {
  try {
    return statSync(path).mtimeMs;
  } catch {
    return undefined;
  }
}

/** Compiles into a temporary file renamed over the binary (a bench running meanwhile never spawns half a file); undefined on success, else why not. */
function compile(): Promise<string | undefined> {
  mkdirSync(dirname(NATIVE_BINARY), { recursive: true });
  const tmp = `${NATIVE_BINARY}.${process.pid}.tmp`;
  const args = ['-O2', '-std=c++17', '-o', tmp, NATIVE_SOURCE];
  return new Promise((resolve) => {
    execFile('g++', args, { timeout: COMPILE_TIMEOUT_MS, killSignal: 'SIGKILL', maxBuffer: 1 << 20 }, (err, _stdout, stderr) => {
      if (!err) {
        try {
          renameSync(tmp, NATIVE_BINARY);
          return resolve(undefined);
        } catch (e) {
          rmSync(tmp, { force: true });
          return resolve(`cannot rename ${tmp}: ${(e as Error).message}`);
        }
      }
      rmSync(tmp, { force: true });
      const e = err as NodeJS.ErrnoException & { killed?: boolean };
      if (e.code === 'ENOENT') return resolve('g++ not found');
      if (e.killed) return resolve(`g++ did not finish within ${COMPILE_TIMEOUT_MS / 1000} s`);
      const first = String(stderr).split('\n').find((l) => l.includes('error')) ?? String(stderr).split('\n')[0] ?? '';
      resolve(`g++ failed: ${first.trim() || e.message}`);
    });
  });
}

let building: Promise<NativeBuild> | undefined;

/**
 * The native member worker to use, compiled if needed (once per process;
 * later calls share the result). Never rejects for a build failure unless
 * CHATD_BENCH_DRIVER=native.
 */
export function nativeMembers(): Promise<NativeBuild> {
  building ??= (async (): Promise<NativeBuild> => {
    const choice = driverChoice();
    if (choice === 'node') return { binary: undefined, description: 'Node member workers (CHATD_BENCH_DRIVER=node)' };
    const rel = relative(ROOT, NATIVE_BINARY);
    const src = mtimeMs(NATIVE_SOURCE);
    const bin = mtimeMs(NATIVE_BINARY);
    let why: string | undefined;
    let how = 'up to date';
    if (src === undefined) {
      if (bin === undefined) why = `no ${relative(ROOT, NATIVE_SOURCE)}`;
    } else if (bin === undefined || bin < src) {
      how = 'compiled now';
      why = await compile();
    }
    if (why !== undefined) {
      if (choice === 'native') throw new Error(`CHATD_BENCH_DRIVER=native, but the native member worker cannot be built: ${why}`);
      return { binary: undefined, description: `Node member workers (the native one cannot be built: ${why})` };
    }
    return { binary: NATIVE_BINARY, description: `native member workers for UDP targets (${rel}, ${how}); Node workers for Socket.IO` };
  })();
  return building;
}
