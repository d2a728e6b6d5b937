// Interactive `chat`: a readline prompt showing the current room. Incoming
// lines scroll above the line being typed (client/cli-screen.ts); chat lines
// go out through client/cli-outbox.ts, which holds them while a room does not
// answer; typed lines are understood by client/cli-input.ts.
import { createInterface } from 'node:readline';
import { ChatClient, ClientError } from './chat-client.js';
import { EXIT, roomArg, type CliArgs } from './cli-args.js';
import { explain, formatEvent, rejoinFailedEvent, safe, serversName, stamped, type CliEvent, type LineStyle } from './cli-format.js';
import { INTERACTIVE_HELP, parseInput, type CommandName } from './cli-input.js';
import { changeNick } from './cli-nick.js';
import { Outbox } from './cli-outbox.js';
import { Screen } from './cli-screen.js';
import { clientError } from './client-error.js';

export interface InteractiveIo {
  input: NodeJS.ReadableStream;
  output: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  isTTY: boolean;
  /** Registers the handler for SIGINT/SIGTERM outside the terminal. */
  onSignal(fn: () => void): void;
}

type Command = (args: string[]) => Promise<void>;

/** Lines typed with the up arrow go this far back. */
const HISTORY_SIZE = 100;
/** A join with no answer yet says so this often, so a slow start is never a silent prompt. */
const JOIN_PROGRESS_MS = 3_000;
/** At Ctrl-D, lines still on their way get this long to be acknowledged. */
const EXIT_FLUSH_MS = 3_000;
/** Names per line of a member list. */
const NAMES_PER_LINE = 20;

export async function runInteractive(a: CliArgs, io: InteractiveIo): Promise<number> {
  const server = serversName(a.servers);
  const client = new ChatClient({ servers: a.servers, autoRejoin: a.rejoin });
  const rl = createInterface({ input: io.input, output: io.output, terminal: io.isTTY, historySize: HISTORY_SIZE });
  const screen = new Screen(rl, io.output, io.isTTY, io.input);
  const style: LineStyle = { actions: true, timestamps: a.timestamps };
  let nick = a.nick;
  let current: string | undefined;
  /** The key each room was joined with, to join it again under another nick. */
  const keys = new Map<string, string | undefined>();

  const print = (line: string) => screen.print(line);
  const note = (text: string) => print(stamped(text, style));
  const roomNote = (room: string, text: string) => note(`[${safe(room)}] * ${text}`);
  const show = (e: CliEvent) => print(formatEvent(e, style));
  const explainErr = (err: unknown) => explain(err, server);

  const updatePrompt = () => {
    rl.setPrompt(current === undefined ? '> ' : `[${safe(current)}]> `);
    screen.redraw();
  };
  rl.once('close', () => screen.close());

  const outbox = new Outbox({
    say: (room, text) => client.say(room, text),
    failed: (room, text, err) => roomNote(room, `not sent (${explainErr(err)}): ${safe(text)}`),
    queued: (room, text) => roomNote(room, `waiting for the room to answer: ${safe(text)}`),
  });

  /** The room is gone on our side: what waits for it is not sent, and another room becomes current. */
  const forget = (room: string, why: ClientError) => {
    outbox.drop(room, why);
    keys.delete(room);
    if (current !== room) return;
    current = client.joinedRooms()[0];
    updatePrompt();
  };

  client.on('message', show);
  client.on('presence', show);
  client.on('gap', (g) => show({ type: 'gap', ...g }));
  client.on('closed', (c) => {
    show({ type: 'closed', ...c });
    forget(c.room, clientError('CLOSED', `room closed (${c.reason})`));
  });
  client.on('evicted', (e) => {
    show({ type: 'evicted', ...e });
    forget(e.room, clientError('NOT_JOINED', 'evicted'));
  });
  client.on('unresponsive', ({ room }) => {
    roomNote(room, `connection lost to ${server}, retrying…`);
    outbox.stall(room, true);
  });
  client.on('responsive', ({ room }) => {
    roomNote(room, 'connection back');
    outbox.stall(room, false);
  });
  // Another node took the room over: a notice; `connection back` follows if it was reported lost.
  client.on('moved', (m) => show({ type: 'moved', ...m }));
  // A room being re-joined stays current: lines typed meanwhile wait for the new membership.
  client.on('rejoining', (r) => show({ type: 'rejoining', ...r }));
  client.on('rejoined', (r) => {
    show({ type: 'rejoined', ...r });
    outbox.stall(r.room, false);
  });
  client.on('rejoin-failed', (f) => {
    show(rejoinFailedEvent(f));
    forget(f.room, f.error);
  });
  client.on('error', (err) => note(`error: ${explainErr(err)}`));

  let hashNoted = false;
  /** Said once: after that, a # is taken as a habit, not a mistake. */
  const noteHash = (room: string) => {
    if (hashNoted) return;
    hashNoted = true;
    note(`note: room names have no #; joining ${safe(room)}`);
  };
  const showMembers = async (room: string) => {
    const names = (await client.who(room)).map((m) => safe(m.nick)).sort((x, y) => x.localeCompare(y));
    if (names.length <= NAMES_PER_LINE) return roomNote(room, `members: ${names.join(', ')}`);
    for (let i = 0; i < names.length; i += NAMES_PER_LINE) {
      const page = names.slice(i, i + NAMES_PER_LINE);
      roomNote(room, `members ${i + 1}-${i + page.length} of ${names.length}: ${page.join(', ')}`);
    }
  };
  const join = async (room: string, key?: string) => {
    roomNote(room, `joining at ${server}…`);
    const started = Date.now();
    const progress = setInterval(() => roomNote(room, `no answer from ${server} after ${Math.round((Date.now() - started) / 1000)} s; still trying…`), JOIN_PROGRESS_MS);
    let info;
    try {
      info = await client.join(room, nick, key === undefined ? {} : { key });
    } catch (err) {
      throw new Error(`cannot join ${safe(room)} at ${server}: ${explainErr(err)}`);
    } finally {
      clearInterval(progress);
    }
    keys.set(info.room, key);
    current = info.room;
    updatePrompt();
    roomNote(info.room, `joined as ${safe(info.nick)} (${info.members} member(s))`);
    // Alone in a room joined with a key: most likely a new private room, keyed by what was typed.
    if (key !== undefined && info.members === 1) roomNote(info.room, `the room's key is "${safe(key)}": others join with /join ${safe(info.room)} KEY`);
    await showMembers(info.room).catch((err: unknown) => roomNote(info.room, `members unknown: ${explainErr(err)}`));
  };
  /** A joined room named by the user (a # dropped), or the current one. */
  const joinedRoom = (arg: string | undefined): string => {
    const room = arg === undefined ? current : roomArg(arg).room;
    if (room === undefined) throw new Error('not in a room: /join ROOM first');
    if (!client.joinedRooms().includes(room)) throw new Error(`not in room ${safe(room)}; joined: ${client.joinedRooms().map(safe).join(', ') || 'none'}`);
    return room;
  };

  const commands: Record<CommandName, Command> = {
    join: async (args) => {
      if (args.length === 0 || args.length > 2) return note('usage: /join ROOM [KEY] (one word each: room names and keys have no spaces)');
      const r = roomArg(args[0]!);
      if (r.error !== undefined) return note(safe(r.error));
      if (r.stripped) noteHash(r.room);
      await join(r.room, args[1]);
    },
    leave: async ([arg]) => {
      const room = joinedRoom(arg);
      if (outbox.isStalled(room)) outbox.drop(room, clientError('CLOSED', 'left before the room answered'));
      await outbox.idle(room);
      try {
        await client.leave(room);
        roomNote(room, 'you left');
      } finally {
        forget(room, clientError('NOT_JOINED', 'left')); // dropped locally even when the leave went unanswered
      }
    },
    switch: async (args) => {
      if (args.length !== 1) return note(`usage: /switch ROOM; joined: ${client.joinedRooms().map(safe).join(', ') || 'none'}`);
      current = joinedRoom(args[0]);
      updatePrompt();
    },
    rooms: async () => {
      const rooms = await client.rooms();
      if (rooms.length === 0) return note('no rooms');
      for (const r of rooms) print(`${safe(r.room)} (${r.members} member(s))`);
    },
    who: async ([arg]) => showMembers(joinedRoom(arg)),
    nick: async (args) => {
      if (args.length > 1) return note('usage: /nick NEW (one word)');
      const silent = client.joinedRooms().filter((r) => outbox.isStalled(r));
      if (silent.length > 0) return note(`not now: ${silent.map(safe).join(', ')} does not answer`);
      await outbox.idle();
      nick = await changeNick(
        {
          joinedRooms: () => client.joinedRooms(),
          who: (room) => client.who(room),
          leave: (room) => client.leave(room),
          join: (room, n) => {
            const key = keys.get(room);
            return client.join(room, n, key === undefined ? {} : { key });
          },
          notice: roomNote,
          note,
          describe: explainErr,
        },
        nick,
        args[0],
      );
      if (current !== undefined && !client.joinedRooms().includes(current)) forget(current, clientError('NOT_JOINED', 'left'));
    },
    // Parsed as a chat line (client/cli-input.ts); listed so the table is complete.
    me: async () => {},
    help: async () => print(INTERACTIVE_HELP),
    quit: async () => quit(),
  };

  /** Runs one typed line (lines run one at a time, in order). */
  const handleLine = async (line: string) => {
    const input = parseInput(line);
    switch (input.kind) {
      case 'empty':
        return;
      case 'bad':
        return note(input.message);
      case 'command':
        return commands[input.name](input.args);
      case 'say': {
        if (current === undefined) return note(`not in a room: /join ROOM first (not sent: ${safe(input.text)})`);
        // A line too long for one datagram goes as several messages, in order.
        outbox.send(current, client.splitForSay(current, input.text));
      }
    }
  };

  // Lines run one at a time, in order, after the --room join, so piped input behaves like typing.
  if (a.roomStripped && a.room !== undefined) noteHash(a.room);
  if (a.key !== undefined && a.room !== undefined) keys.set(a.room, a.key);
  let chain = a.room === undefined ? Promise.resolve() : join(a.room, a.key).catch((err: unknown) => note(`error: ${explainErr(err)}`));
  let quitting: Promise<void> | undefined;
  const quit = (): Promise<void> => {
    quitting ??= (async () => {
      outbox.dropAll(clientError('CLOSED', 'quit before it was sent'));
      await client.close({ leave: true });
      rl.close();
      screen.flush();
    })();
    return quitting;
  };

  rl.on('line', (line) => {
    // A chat line leaves the screen: the room's copy of it takes its place.
    const input = parseInput(line);
    screen.submitted(line, input.kind === 'empty' || (input.kind === 'say' && current !== undefined));
    chain = chain
      .then(() => handleLine(line))
      .catch((err: unknown) => {
        if (quitting === undefined) note(`error: ${explainErr(err)}`);
      });
  });
  // Ctrl-C at the terminal, a signal otherwise: leave now. End of input: finish queued lines first.
  rl.on('SIGINT', () => void quit());
  io.onSignal(() => void quit());
  const ended = new Promise<void>((resolve) => rl.once('close', resolve));

  updatePrompt();
  if (io.isTTY) rl.prompt();
  await ended;
  if (io.isTTY) {
    // Ctrl-D: leave now. What is on its way gets a moment; what waits for a silent room is reported.
    for (const room of client.joinedRooms()) if (outbox.isStalled(room)) outbox.drop(room, clientError('CLOSED', 'quit before the room answered'));
    await Promise.race([outbox.idle(), new Promise((resolve) => setTimeout(resolve, EXIT_FLUSH_MS).unref())]);
  } else {
    await chain.catch(() => {});
    await outbox.idle();
  }
  await quit();
  return EXIT.OK;
}
