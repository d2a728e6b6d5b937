// Command-line parsing for `chat`, kept free of I/O so it can be tested as a
// table. Three forms share one set of options:
//   chat [options]                   interactive
//   chat send [options] TEXT...      send one message and leave
//   chat tail [options] [--json]     print events until SIGINT/SIGTERM
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { isValidRoomName, ROOM_NAME_RULE } from '../lib/names.js';
import { COMMAND_LIST } from './cli-input.js';
import type { ServerAddress } from './control.js';

export const DEFAULT_SERVER = '127.0.0.1:7447';
const DEFAULT_PORT = 7447;

/** Exit codes of every form. */
export const EXIT = {
  OK: 0,
  /** The server refused (its code and message go to stderr), or the room closed. */
  FAILED: 1,
  USAGE: 2,
  /** No answer after every retry. */
  TIMEOUT: 3,
} as const;

export type Mode = 'interactive' | 'send' | 'tail';

export interface CliArgs {
  mode: Mode;
  /** The service's control endpoints, in the order given (--server, a comma list). */
  servers: ServerAddress[];
  nick: string;
  room: string | undefined;
  /** --room was given with a leading # (dropped). */
  roomStripped: boolean;
  key: string | undefined;
  json: boolean;
  /** Rejoin by itself after an eviction or a room crash (interactive and tail; never for send). */
  rejoin: boolean;
  /** send: the text; empty when it comes from standard input (one message a line). */
  text: string;
  /** send: overall deadline in ms (exit 3 when it passes); undefined: none besides the retries'. */
  timeoutMs: number | undefined;
  /** interactive: HH:MM before every incoming line (on unless --no-timestamps). */
  timestamps: boolean;
}

export type Parsed =
  | { kind: 'run'; args: CliArgs }
  | { kind: 'help'; mode: Mode }
  | { kind: 'version' }
  | { kind: 'usage'; mode: Mode; error: string };

const OPTIONS = {
  server: { type: 'string', short: 's' },
  nick: { type: 'string', short: 'n' },
  room: { type: 'string', short: 'r' },
  key: { type: 'string', short: 'k' },
  json: { type: 'boolean' },
  'no-rejoin': { type: 'boolean' },
  'no-timestamps': { type: 'boolean' },
  timeout: { type: 'string', short: 't' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean', short: 'V' },
} as const;

export function parseCli(argv: readonly string[]): Parsed {
  const mode: Mode = argv[0] === 'send' || argv[0] === 'tail' ? argv[0] : 'interactive';
  const rest = mode === 'interactive' ? [...argv] : argv.slice(1);
  // --help and --version win over everything else, even a malformed line.
  const flags = new Set(rest.slice(0, rest.includes('--') ? rest.indexOf('--') : rest.length));
  if (flags.has('--help') || flags.has('-h')) return { kind: 'help', mode };
  if (flags.has('--version') || flags.has('-V')) return { kind: 'version' };
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: rest, options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    return { kind: 'usage', mode, error: (err as Error).message };
  }
  const usage = (error: string): Parsed => ({ kind: 'usage', mode, error });
  const servers = parseServers(values.server ?? DEFAULT_SERVER);
  if (typeof servers === 'string') return usage(servers);
  if (values.nick === undefined || values.nick === '') return usage('--nick is required');
  if (mode !== 'interactive' && (values.room === undefined || values.room === '')) return usage('--room is required');
  if (values.room === '') return usage('--room must not be empty');
  // An invalid --room still goes to the service, whose refusal (exit 1) states the rule.
  const room = values.room === undefined ? undefined : roomArg(values.room);
  if (values.key === '') return usage('--key must not be empty');
  if (values.json && mode !== 'tail') return usage('--json is only for `chat tail`');
  if (values['no-timestamps'] && mode !== 'interactive') return usage('--no-timestamps is only for interactive `chat` (send and tail print no timestamps)');
  if (values['no-rejoin'] && mode === 'send') return usage('--no-rejoin is not for `chat send` (it never rejoins)');
  const text = positionals.join(' ');
  let timeoutMs: number | undefined;
  if (values.timeout !== undefined) {
    if (mode !== 'send') return usage('--timeout is only for `chat send`');
    timeoutMs = Number(values.timeout);
    if (!/^\d+$/.test(values.timeout) || timeoutMs < 1) return usage(`--timeout "${values.timeout}": give a number of milliseconds (at least 1)`);
  }
  if (mode !== 'send' && positionals.length > 0) return usage(`unexpected argument "${positionals[0]}"`);
  return {
    kind: 'run',
    args: {
      mode,
      servers,
      nick: values.nick,
      room: room?.room,
      roomStripped: room?.stripped ?? false,
      key: values.key,
      json: values.json ?? false,
      rejoin: mode !== 'send' && values['no-rejoin'] !== true,
      text,
      timeoutMs,
      timestamps: mode === 'interactive' && values['no-timestamps'] !== true,
    },
  };
}

/**
 * A room name as typed: IRC users write `#general`, so one leading # is
 * dropped (stripped: true, for a one-time notice). error states the rule
 * when the name is not one the service accepts.
 */
export function roomArg(typed: string): { room: string; stripped: boolean; error?: string } {
  const stripped = typed.startsWith('#') && typed.length > 1;
  const room = stripped ? typed.slice(1) : typed;
  return isValidRoomName(room) ? { room, stripped } : { room, stripped, error: `bad room name "${room}": ${ROOM_NAME_RULE}` };
}

/**
 * One server or a comma list of them (the nodes of one service, any of
 * which will do), each as parseServer reads it. Every one must be of the
 * address family of the others (the client has one socket).
 */
export function parseServers(s: string): ServerAddress[] | string {
  const list: ServerAddress[] = [];
  for (const entry of s.split(',').map((e) => e.trim())) {
    if (entry === '') return `--server "${s}" has an empty entry: give HOST:PORT[,HOST:PORT...]`;
    const server = parseServer(entry);
    if (typeof server === 'string') return server;
    list.push(server);
  }
  const families = new Set(list.map((x) => isIP(x.host)).filter((f) => f !== 0));
  if (families.size > 1) return `--server "${s}" mixes IPv4 and IPv6 addresses: give servers of one family`;
  return list;
}

/** HOST:PORT, [IPV6]:PORT, HOST or a bare IPv6 address; the port defaults to 7447. */
export function parseServer(s: string): { host: string; port: number } | string {
  let host = s;
  let portText: string | undefined;
  const bracketed = /^\[([^\]]+)\](?::(.*))?$/.exec(s);
  if (bracketed) {
    host = bracketed[1]!;
    portText = bracketed[2];
  } else if (s.indexOf(':') === s.lastIndexOf(':') && s.includes(':')) {
    host = s.slice(0, s.indexOf(':'));
    portText = s.slice(s.indexOf(':') + 1);
  }
  if (host === '') return `--server "${s}" has no host`;
  if (portText === undefined) return { host, port: DEFAULT_PORT };
  const port = Number(portText);
  if (!/^\d+$/.test(portText) || port < 1 || port > 65_535) return `--server "${s}": the port must be 1-65535`;
  return { host, port };
}

const COMMON = `  -s, --server HOST:PORT[,HOST:PORT...]
                          the chatd control endpoint (default ${DEFAULT_SERVER}),
                          or several nodes of one service: any that answers will do
  -n, --nick NAME         your nick in the room (required)
  -k, --key KEY           the room key, for private rooms
  -h, --help              show this help
  -V, --version           show the version

Exit codes: 0 ok, 1 failed or refused by the server (code and message on
stderr), 2 usage error, 3 timeout (no answer from the server).`;

export const HELP: Record<Mode, string> = {
  interactive: `Usage: chat [--server HOST:PORT[,...]] --nick NAME [--room ROOM] [--key KEY] [--no-rejoin] [--no-timestamps]
       chat send --room ROOM --nick NAME [--timeout MS] [TEXT...]
       chat tail --room ROOM --nick NAME [--json] [--no-rejoin]

Interactive chat. Lines you type go to the current room (start a line with
// to send one that begins with /). Commands:
${COMMAND_LIST}
Incoming lines start with the time (HH:MM); lines typed while a room does
not answer are sent when it answers again.

If the service evicts you (say, after a network outage) or a room crashes
for good, chat rejoins it by itself, with the same nick and key, retrying
for about half a minute; messages sent in the room meanwhile are not shown.
If a room moves to another node of the service, chat follows it and says
so; nothing is lost.

Options:
  -r, --room ROOM         join this room at start
      --no-rejoin         do not rejoin by itself after an eviction or a crash
      --no-timestamps     no HH:MM before incoming lines
${COMMON}
`,
  send: `Usage: chat send [--server HOST:PORT[,...]] --room ROOM --nick NAME [--key KEY] [--timeout MS] [TEXT...]

Joins ROOM, sends TEXT, waits for the service to acknowledge it, leaves.
Without TEXT, sends each line of standard input as one message, in order,
each acknowledged before the next (empty lines are skipped); stops at the
first that fails. A message too long for one datagram is refused (exit 1,
with how many characters would fit), not split.
It never rejoins by itself: if the membership is lost, it fails.

Options:
  -r, --room ROOM         the room (required)
  -t, --timeout MS        give up after MS milliseconds in all (exit 3)
${COMMON}
`,
  tail: `Usage: chat tail [--server HOST:PORT[,...]] --room ROOM --nick NAME [--key KEY] [--json]

Joins ROOM and prints every event until SIGINT or SIGTERM, then leaves and
exits 0. If the service evicts you or the room crashes for good, it rejoins
by itself with the same nick and key (events in between are not printed);
exits 1 if the room closes (service shutdown) or cannot be rejoined (3 if
the service stopped answering). A room that moves to another node is
followed (a line says so), and nothing in between is missed.

Options:
  -r, --room ROOM         the room (required)
      --json              print events as NDJSON (one JSON object a line);
                          rejoins show as {"type":"rejoining"|"rejoined"|"rejoin-failed",...},
                          moves as {"type":"moved","room","host","port","from":{...}}
      --no-rejoin         do not rejoin: exit 1 on eviction or crash instead
${COMMON}
`,
};
