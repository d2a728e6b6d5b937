// What a line typed at the interactive prompt asks for: a chat line, or a
// command with its words. Free of I/O, so it is tested as a table.
import { ACTION_PREFIX, safe } from './cli-format.js';

export type Input =
  | { kind: 'empty' }
  /** Text for the current room, as it goes on the wire. */
  | { kind: 'say'; text: string }
  | { kind: 'command'; name: CommandName; args: string[] }
  /** Not something to run: the message says why. */
  | { kind: 'bad'; message: string };

export const COMMANDS = ['join', 'leave', 'switch', 'who', 'rooms', 'nick', 'me', 'help', 'quit'] as const;
export type CommandName = (typeof COMMANDS)[number];

/** The prompt's commands, one a line: in /help and in the command line's usage. */
export const COMMAND_LIST = `  /join ROOM [KEY]   join (or create) a room and make it current
  /leave [ROOM]      leave a room (default: the current one)
  /switch ROOM       make another joined room current
  /who [ROOM]        list the members of a joined room
  /rooms             list the service's rooms
  /nick NEW          take another nick in every joined room
  /me ACTION         say what you do: shown as "* nick ACTION"
  /help              list the commands
  /quit              leave every room and exit (also Ctrl-D, Ctrl-C)`;

/** The list /help prints: the commands of the prompt, not the command line's options. */
export const INTERACTIVE_HELP = `Type a line to send it to the current room. Commands:
${COMMAND_LIST}
Start a line with // to send one that begins with /. Up and down arrows
recall the lines you typed.`;

function isCommand(name: string): name is CommandName {
  return (COMMANDS as readonly string[]).includes(name);
}

export function parseInput(line: string): Input {
  const trimmed = line.trim();
  if (trimmed === '') return { kind: 'empty' };
  // `//text` sends "/text".
  if (trimmed.startsWith('//')) return { kind: 'say', text: line.trimStart().slice(1) };
  if (!trimmed.startsWith('/')) return { kind: 'say', text: line };
  const [word = '', ...args] = trimmed.slice(1).split(/\s+/);
  const name = word.toLowerCase();
  if (name === 'me') {
    const action = trimmed.slice(1 + word.length).trim();
    if (action === '') return { kind: 'bad', message: 'usage: /me ACTION (for example: /me waves)' };
    return { kind: 'say', text: `${ACTION_PREFIX}${action}` };
  }
  if (!isCommand(name)) return { kind: 'bad', message: `unknown command /${safe(word)}; /help lists them` };
  return { kind: 'command', name, args };
}
