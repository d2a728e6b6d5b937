// Interactive `chat`: a readline prompt showing the current room. Incoming
// events never garble the line being typed: the line is cleared, the event
// printed, and the prompt redrawn with what was typed so far.
import { clearLine, createInterface, cursorTo } from 'node:readline';
import { ChatClient } from './chat-client.js';
import { EXIT, HELP, roomArg, type CliArgs } from './cli-args.js';
import { formatEvent, rejoinFailedEvent, safe, type CliEvent } from './cli-format.js';
import { describe } from './cli-oneshot.js';

export interface InteractiveIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { isTTY?: boolean };
  isTTY: boolean;
  /** Registers the handler for SIGINT/SIGTERM outside the terminal. */
  onSignal(fn: () => void): void;
}

type Command = (arg: string[]) => Promise<void>;

export async function runInteractive(a: CliArgs, io: InteractiveIo): Promise<number> {
  const client = new ChatClient({ host: a.host, port: a.port, autoRejoin: a.rejoin });
  const rl = createInterface({ input: io.input, output: io.output, terminal: io.isTTY });
  let current: string | undefined;

  const updatePrompt = () => rl.setPrompt(current === undefined ? '> ' : `[${safe(current)}]> `);
  let rlClosed = false;
  rl.once('close', () => (rlClosed = true));
  const print = (line: string) => {
    if (io.isTTY && !rlClosed) {
      clearLine(io.output, 0);
      cursorTo(io.output, 0);
      io.output.write(`${line}\n`);
      rl.prompt(true);
    } else {
      io.output.write(`${line}\n`);
    }
  };
  const show = (e: CliEvent) => print(formatEvent(e));
  /** The room is gone on our side: pick another current room. */
  const forget = (room: string) => {
    if (current !== room) return;
    current = client.joinedRooms()[0];
    updatePrompt();
  };

  client.on('message', show);
  client.on('presence', show);
  client.on('gap', (g) => show({ type: 'gap', ...g }));
  client.on('closed', (c) => {
    show({ type: 'closed', ...c });
    forget(c.room);
  });
  client.on('evicted', (e) => {
    show({ type: 'evicted', ...e });
    forget(e.room);
  });
  // A room being re-joined stays current: lines typed meanwhile wait for the new membership.
  client.on('rejoining', (r) => show({ type: 'rejoining', ...r }));
  client.on('rejoined', (r) => show({ type: 'rejoined', ...r }));
  client.on('rejoin-failed', (f) => {
    show(rejoinFailedEvent(f));
    forget(f.room);
  });
  client.on('error', (err) => print(`error: ${describe(err)}`));

  let hashNoted = false;
  /** Said once: after that, a # is taken as a habit, not a mistake. */
  const noteHash = (room: string) => {
    if (hashNoted) return;
    hashNoted = true;
    print(`note: room names have no #; joining ${safe(room)}`);
  };
  const join = async (room: string, key?: string) => {
    const info = await client.join(room, a.nick, key === undefined ? {} : { key });
    current = info.room;
    updatePrompt();
    print(`[${safe(info.room)}] * joined as ${safe(info.nick)} (${info.members} member(s))`);
    // Alone in a room joined with a key: most likely a new private room, keyed by what was typed.
    if (key !== undefined && info.members === 1) print(`[${safe(info.room)}] * the room's key is "${safe(key)}": others join with /join ${safe(info.room)} KEY`);
  };
  const roomOrCurrent = (arg: string | undefined): string => {
    const room = arg ?? current;
    if (room === undefined) throw new Error('not in a room: /join ROOM first');
    return room;
  };

  const commands: Record<string, Command> = {
    join: async (args) => {
      if (args.length === 0 || args.length > 2) return print('usage: /join ROOM [KEY] (one word each: room names and keys have no spaces)');
      const r = roomArg(args[0]!);
      if (r.error !== undefined) return print(safe(r.error));
      if (r.stripped) noteHash(r.room);
      await join(r.room, args[1]);
    },
    leave: async ([arg]) => {
      const room = roomOrCurrent(arg);
      try {
        await client.leave(room);
        print(`[${safe(room)}] * you left`);
      } finally {
        forget(room); // dropped locally even when the leave went unanswered
      }
    },
    switch: async ([room]) => {
      if (room === undefined || !client.joinedRooms().includes(room)) return print(`not in room ${safe(room ?? '')}; joined: ${client.joinedRooms().join(', ') || 'none'}`);
      current = room;
      updatePrompt();
    },
    rooms: async () => {
      const rooms = await client.rooms();
      if (rooms.length === 0) return print('no rooms');
      for (const r of rooms) print(`${safe(r.room)} (${r.members} member(s))`);
    },
    who: async ([arg]) => {
      const room = roomOrCurrent(arg);
      const members = await client.who(room);
      print(`[${safe(room)}] ${members.map((m) => safe(m.nick)).join(', ')}`);
    },
    help: async () => print(HELP.interactive.trimEnd()),
    quit: async () => quit(),
  };

  const handleLine = async (line: string) => {
    const trimmed = line.trim();
    if (trimmed === '') return;
    if (trimmed.startsWith('/') && !trimmed.startsWith('//')) {
      const [name = '', ...args] = trimmed.slice(1).split(/\s+/);
      const cmd = Object.hasOwn(commands, name) ? commands[name] : undefined;
      if (!cmd) return print(`unknown command /${safe(name)}; /help lists them`);
      return cmd(args);
    }
    if (current === undefined) return print('not in a room: /join ROOM first');
    // `//text` sends "/text". A line too long for one datagram goes as several messages, in order.
    const room = current;
    for (const part of client.splitForSay(room, trimmed.startsWith('//') ? line.trimStart().slice(1) : line)) await client.say(room, part);
  };

  // Lines run one at a time, in order, after the --room join, so piped input behaves like typing.
  if (a.roomStripped && a.room !== undefined) noteHash(a.room);
  let chain =
    a.room === undefined
      ? Promise.resolve()
      : join(a.room, a.key).catch((err: unknown) => print(`error: cannot join ${safe(a.room!)}: ${describe(err)}`));
  let quitting: Promise<void> | undefined;
  const quit = (): Promise<void> => {
    quitting ??= (async () => {
      await client.close({ leave: true });
      rl.close();
    })();
    return quitting;
  };

  rl.on('line', (line) => {
    chain = chain
      .then(() => handleLine(line))
      .catch((err: unknown) => {
        if (quitting === undefined) print(`error: ${describe(err)}`);
      })
      .finally(() => {
        if (quitting === undefined && io.isTTY && !rlClosed) rl.prompt(true);
      });
  });
  // Ctrl-C at the terminal, a signal otherwise: leave now. End of input: finish queued lines first.
  rl.on('SIGINT', () => void quit());
  io.onSignal(() => void quit());
  const ended = new Promise<void>((resolve) => rl.once('close', resolve));

  updatePrompt();
  if (io.isTTY && !rlClosed) rl.prompt();
  await ended;
  await chain.catch(() => {});
  await quit();
  return EXIT.OK;
}
