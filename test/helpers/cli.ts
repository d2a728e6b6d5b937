// Runs the built `chat` CLI as a child process and collects what it printed.
// The child is killed (bounded) if it outlives the limit, so a test that
// fails while it waits leaves no process behind.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const CLI = fileURLToPath(new URL('../../client/cli.js', import.meta.url));

export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Wall time from spawn to exit. */
  ms: number;
}

/** stdin: written and closed; null leaves standard input open (as a terminal that types nothing would). */
export function runCli(args: string[], stdin: string | null = '', limitMs = 30_000): Promise<CliRun> {
  return new Promise((resolve) => {
    const started = Date.now();
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['pipe', 'pipe', 'pipe'] });
    const killer = setTimeout(() => p.kill('SIGKILL'), limitMs);
    let stdout = '';
    let stderr = '';
    p.stdout!.on('data', (b: Buffer) => (stdout += b.toString()));
    p.stderr!.on('data', (b: Buffer) => (stderr += b.toString()));
    // A CLI that exits before reading its input must not fail the test with EPIPE.
    p.stdin!.on('error', () => {});
    p.once('exit', (code) => {
      clearTimeout(killer);
      resolve({ code, stdout, stderr, ms: Date.now() - started });
    });
    if (stdin !== null) p.stdin!.end(stdin);
  });
}
