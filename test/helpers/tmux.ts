// The `chat` CLI in a real terminal: a tmux pane of a known size, keys sent
// to it, its screen read back. Each test file uses a tmux server of its own
// (-L, named after this process), so nothing touches a user's sessions; the
// session, its process (by pid) and the server are gone at teardown.
// Nothing here sleeps for a fixed time: waitFor polls the screen until what
// is expected is there, within a deadline.
import { execFileSync, spawnSync } from 'node:child_process';
import { sigkill, track } from './pids.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

/** Why the terminal tests cannot run here, or undefined when they can. */
export function tmuxMissing(): string | undefined {
  const r = spawnSync('tmux', ['-V'], { encoding: 'utf8' });
  return r.status === 0 ? undefined : 'tmux is not installed (the terminal tests drive the CLI in a tmux pane)';
}

const POLL_MS = 50;
/** What the shell around the command prints when it exits: `[exited STATUS]`. */
const EXITED = '[exited ';
let sessions = 0;

/** A shell word that stays one word. */
function quote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export interface PaneOptions {
  width?: number;
  height?: number;
  env?: Record<string, string>;
}

export class Pane {
  readonly name: string;
  readonly pid: number;
  private readonly socket: string;

  private constructor(socket: string, name: string, pid: number) {
    this.socket = socket;
    this.name = name;
    this.pid = pid;
  }

  /** Starts argv (no shell syntax) in a new pane; the pane stays after the command exits, to read its status. */
  static start(t: Teardown, argv: string[], opts: PaneOptions = {}): Pane {
    const socket = `chatd-test-${process.pid}`;
    const name = `chat-${process.pid}-${++sessions}`;
    // A clean environment: the test runner's own (NODE_OPTIONS loading its
    // process tracking) has no business in a process tmux starts.
    const base = { PATH: process.env['PATH'] ?? '/usr/bin:/bin', HOME: process.env['HOME'] ?? '/', TERM: 'xterm-256color' };
    const env = Object.entries({ ...base, ...opts.env }).map(([k, v]) => `${k}=${quote(v)}`);
    // tmux does not always keep a dead pane's exit status (the terminal may
    // close before the process is reaped): a shell around the command prints
    // it on the screen instead, then waits to be killed with the session.
    const wrapper = `"$@"; echo "${EXITED}$?]"; exec sleep 600`;
    const command = ['exec', 'env', '-i', ...env, 'sh', '-c', quote(wrapper), 'sh', ...argv.map(quote)].join(' ');
    const tmux = (...args: string[]) => execFileSync('tmux', ['-L', socket, '-f', '/dev/null', ...args], { encoding: 'utf8' });
    tmux('new-session', '-d', '-s', name, '-x', String(opts.width ?? 80), '-y', String(opts.height ?? 24), command);
    const shell = Number(tmux('display-message', '-p', '-t', name, '#{pane_pid}').trim());
    track(shell, `tmux pane ${name}`);
    const pane = new Pane(socket, name, shell);
    t.teardown(() => {
      // The command by pid (the shell's child), then the shell; the session's end hangs up on anything left.
      for (const child of pane.children()) sigkill(child);
      sigkill(shell);
      spawnSync('tmux', ['-L', socket, 'kill-session', '-t', name]);
      // The server goes when its last session does; a server left by a failed start is ended here.
      spawnSync('tmux', ['-L', socket, 'kill-server']);
    });
    return pane;
  }

  /** Pids of the shell's children: the command, while it runs. */
  children(): number[] {
    const r = spawnSync('ps', ['-o', 'pid=', '--ppid', String(this.pid)], { encoding: 'utf8' });
    return r.stdout
      .split('\n')
      .map((l) => Number(l.trim()))
      .filter((n) => Number.isInteger(n) && n > 0);
  }

  private tmux(...args: string[]): string {
    return execFileSync('tmux', ['-L', this.socket, ...args], { encoding: 'utf8' });
  }

  /** Types text literally (no key names). */
  type(text: string): void {
    this.tmux('send-keys', '-t', this.name, '-l', text);
  }

  /** Presses keys by name: Enter, BSpace, Up, C-d... */
  press(...keys: string[]): void {
    this.tmux('send-keys', '-t', this.name, ...keys);
  }

  resize(width: number, height?: number): void {
    this.tmux('resize-window', '-t', this.name, '-x', String(width), ...(height === undefined ? [] : ['-y', String(height)]));
  }

  /**
   * The screen's rows, and with history the rows scrolled off above it;
   * wrapped rows joined into the lines that were written (-J), trailing
   * blanks dropped.
   */
  screen(history = true): string[] {
    const text = this.tmux('capture-pane', '-p', '-J', '-t', this.name, ...(history ? ['-S', '-'] : []));
    const rows = text.split('\n').map((r) => r.trimEnd());
    while (rows.length > 0 && rows[rows.length - 1] === '') rows.pop();
    return rows;
  }

  /** The command has exited: its exit status (as the shell saw it), else undefined. */
  exitStatus(): number | undefined {
    for (const row of this.screen()) {
      const m = new RegExp(`^\\${EXITED}(\\d+)\\]$`).exec(row);
      if (m) return Number(m[1]);
    }
    return undefined;
  }

  /** Polls the screen until ok() holds; fails with the screen when the deadline passes. */
  async waitFor(ok: (rows: string[]) => boolean, what: string, timeoutMs = 10_000): Promise<string[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const rows = this.screen();
      if (ok(rows)) return rows;
      if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; screen:\n${rows.join('\n')}`);
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }

  /** Waits until a row contains text. */
  waitForText(text: string, timeoutMs?: number): Promise<string[]> {
    return this.waitFor((rows) => rows.some((r) => r.includes(text)), JSON.stringify(text), timeoutMs);
  }

  /** Polls until the process exits; resolves with its status. */
  async waitExit(timeoutMs = 10_000): Promise<number> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const s = this.exitStatus();
      if (s !== undefined) return s;
      if (Date.now() > deadline) {
        throw new Error(`the command in ${this.name} (pids ${this.children().join(', ') || 'none'}) did not exit within ${timeoutMs} ms; screen:\n${this.screen().join('\n')}`);
      }
      await new Promise((resolve) => setTimeout(resolve, POLL_MS));
    }
  }
}

/** How many rows contain text. */
export function countRows(rows: readonly string[], text: string): number {
  return rows.filter((r) => r.includes(text)).length;
}
