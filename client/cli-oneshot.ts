// `chat send` and `chat tail`: the scriptable forms.
import { ChatClient, ClientError } from './chat-client.js';
import { EXIT, type CliArgs } from './cli-args.js';
import { explain, formatEvent, formatJson, rejoinFailedEvent, safe, serversName, type CliEvent } from './cli-format.js';

export interface Io {
  out(line: string): void;
  err(line: string): void;
}

export function exitCodeOf(err: unknown): number {
  return err instanceof ClientError && err.code === 'TIMEOUT' ? EXIT.TIMEOUT : EXIT.FAILED;
}

/** An error in words for scripts: the code first, and the server for a timeout (never a request id). */
export function describe(err: unknown, server?: string): string {
  if (err instanceof ClientError && err.code === 'TIMEOUT' && server !== undefined) return `TIMEOUT: ${explain(err, server)}`;
  if (err instanceof ClientError) return `${err.code}: ${safe(err.message)}`;
  return err instanceof Error ? err.message : String(err);
}

function joinOpts(a: CliArgs): { key?: string } {
  return a.key === undefined ? {} : { key: a.key };
}

function noteHash(a: CliArgs, io: Io): void {
  if (a.roomStripped) io.err(`chat: note: room names have no #; using ${safe(a.room!)}`);
}

/**
 * Joins, sends (the text, or each of `lines`), waits for each ack, leaves.
 * Resolves with the exit code. A one-shot: it never rejoins. With
 * --timeout, whatever is still unanswered at the deadline is given up (exit 3).
 */
export async function runSend(a: CliArgs, io: Io, lines?: AsyncIterable<string>): Promise<number> {
  noteHash(a, io);
  const client = new ChatClient({ servers: a.servers, autoRejoin: false });
  client.on('error', () => {}); // socket trouble shows up as TIMEOUT
  let timer: NodeJS.Timeout | undefined;
  const deadline =
    a.timeoutMs === undefined
      ? new Promise<never>(() => {})
      : new Promise<number>((resolve) => {
          timer = setTimeout(() => {
            io.err(`chat: no answer within --timeout ${a.timeoutMs} ms`);
            resolve(EXIT.TIMEOUT);
          }, a.timeoutMs);
        });
  try {
    return await Promise.race([sendAll(client, a, io, lines), deadline]);
  } finally {
    if (timer) clearTimeout(timer);
    // Past the deadline, requests still waiting fail with CLOSED here; the leave gets closeTimeoutMs at most.
    await client.close({ leave: true });
  }
}

async function sendAll(client: ChatClient, a: CliArgs, io: Io, lines: AsyncIterable<string> | undefined): Promise<number> {
  const room = a.room!;
  try {
    await client.join(room, a.nick, joinOpts(a));
  } catch (err) {
    io.err(`chat: cannot join ${safe(room)}: ${describe(err, serversName(a.servers))}`);
    return exitCodeOf(err);
  }
  let code: number = EXIT.OK;
  let current = '';
  try {
    for await (const text of lines ?? [a.text]) {
      if (text === '') continue;
      current = text;
      await client.say(room, text);
    }
  } catch (err) {
    // The text, not an id: with many lines from standard input, the script's author must know which one.
    io.err(`chat: message not delivered (${JSON.stringify(safe(current))}): ${describe(err, serversName(a.servers))}`);
    code = exitCodeOf(err);
  }
  await client.leave(room).catch(() => {}); // delivered is what counts
  return code;
}

/**
 * Prints every event until stop() is called (SIGINT/SIGTERM) or the room is
 * lost for good (closed, or evicted/crashed and not rejoined).
 */
export async function runTail(a: CliArgs, io: Io, onStop: (stop: () => void) => void): Promise<number> {
  noteHash(a, io);
  const client = new ChatClient({ servers: a.servers, autoRejoin: a.rejoin });
  const room = a.room!;
  const show = (e: CliEvent) => io.out(a.json ? formatJson(e) : formatEvent(e));
  let finish: (code: number) => void = () => {};
  const finished = new Promise<number>((resolve) => (finish = resolve));
  client.on('message', show);
  client.on('presence', show);
  client.on('gap', (g) => show({ type: 'gap', ...g }));
  client.on('closed', (c) => {
    show({ type: 'closed', ...c });
    finish(EXIT.FAILED);
  });
  client.on('evicted', (e) => {
    show({ type: 'evicted', ...e });
    finish(EXIT.FAILED);
  });
  client.on('rejoining', (r) => show({ type: 'rejoining', ...r }));
  client.on('rejoined', (r) => show({ type: 'rejoined', ...r }));
  // Followed by itself: a line like the rejoins', and tailing goes on.
  client.on('moved', (m) => show({ type: 'moved', ...m }));
  client.on('rejoin-failed', (f) => {
    show(rejoinFailedEvent(f));
    finish(exitCodeOf(f.error));
  });
  client.on('error', (err) => io.err(`chat: ${describe(err, serversName(a.servers))}`));
  let stopped = false;
  onStop(() => {
    stopped = true;
    finish(EXIT.OK);
    void client.close({ leave: true }); // also cuts a join still retrying short
  });
  try {
    const info = await client.join(room, a.nick, joinOpts(a));
    if (!a.json) io.err(`chat: tailing ${safe(info.room)} as ${safe(info.nick)} (${info.members} member(s)); Ctrl-C to stop`);
  } catch (err) {
    await client.close({ leave: false });
    if (stopped) return EXIT.OK;
    io.err(`chat: cannot join ${safe(room)}: ${describe(err, serversName(a.servers))}`);
    return exitCodeOf(err);
  }
  const code = await finished;
  await client.close({ leave: true });
  return code;
}
