// How the `chat` command shows events: human lines or NDJSON. Text from the
// network is made safe for a terminal first: control and format characters
// (escape sequences, bidi overrides) could rewrite what the user sees.
import { ClientError } from './client-error.js';
import type { GapInfo, MovedInfo, MsgEvent, PresenceEvent, RejoinFailedInfo, RejoinedInfo, RejoiningInfo } from './chat-client.js';
import type { ServerAddress } from './control.js';
import { endpointName } from './endpoint.js';

export type CliEvent =
  | MsgEvent
  | PresenceEvent
  | ({ type: 'gap' } & GapInfo)
  | { type: 'closed'; room: string; reason: string }
  | { type: 'evicted'; room: string }
  | ({ type: 'rejoining' } & RejoiningInfo)
  | ({ type: 'rejoined' } & RejoinedInfo)
  | { type: 'rejoin-failed'; room: string; code: string; message: string }
  | ({ type: 'moved' } & MovedInfo);

const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

export function safe(s: string): string {
  return s.replace(UNSAFE, '\uFFFD');
}

const PRESENCE_WORDS: Record<PresenceEvent['event'], string> = {
  join: 'joined',
  leave: 'left',
  evict: 'was evicted',
};

/** How the interactive screen shows lines; the scriptable forms use neither. */
export interface LineStyle {
  /** A message whose text starts with `/me ` is an action: `* nick waves`. */
  actions?: boolean;
  /** Prefix HH:MM, local time (a message's own ts, else now()). */
  timestamps?: boolean;
  now?: () => number;
}

/** The text convention for actions, readable by any client: `/me waves`. */
export const ACTION_PREFIX = '/me ';

export function isAction(text: string): boolean {
  return text.startsWith(ACTION_PREFIX) && text.length > ACTION_PREFIX.length;
}

/** HH:MM in local time. */
export function clock(ms: number): string {
  const d = new Date(ms);
  return `${String(d.getHours()).padStart(2, '0')}:${String(d.getMinutes()).padStart(2, '0')}`;
}

/** A line of the screen, timestamped when the style says so (ts: when it happened, if known). */
export function stamped(line: string, style: LineStyle = {}, ts?: number): string {
  if (!style.timestamps) return line;
  return `${clock(ts ?? (style.now ?? Date.now)())} ${line}`;
}

export function formatEvent(e: CliEvent, style: LineStyle = {}): string {
  const line = formatBare(e, style);
  return style.timestamps ? stamped(line, style, e.type === 'msg' ? e.ts : undefined) : line;
}

function formatBare(e: CliEvent, style: LineStyle): string {
  const room = `[${safe(e.room)}]`;
  switch (e.type) {
    case 'msg':
      if (style.actions && isAction(e.text)) return `${room} * ${safe(e.nick)} ${safe(e.text.slice(ACTION_PREFIX.length))}`;
      return `${room} ${safe(e.nick)}: ${safe(e.text)}`;
    case 'presence':
      return `${room} * ${safe(e.nick)} ${PRESENCE_WORDS[e.event]}`;
    case 'gap':
      return `${room} * ${e.to - e.from + 1} event(s) lost (seq ${e.from}..${e.to})`;
    case 'closed':
      return `${room} * room closed (${safe(e.reason)})`;
    case 'evicted':
      return `${room} * you are no longer a member (evicted)`;
    case 'rejoining':
      return e.attempt === 1
        ? `${room} * connection lost (${e.reason}); rejoining…`
        : `${room} * rejoining (attempt ${e.attempt})…`;
    case 'rejoined':
      return `${room} * rejoined`;
    case 'rejoin-failed':
      return `${room} * could not rejoin: ${safe(e.code)} ${safe(e.message)}`;
    case 'moved':
      // A notice, not an error: the membership goes on there, nothing lost.
      return `${room} * room moved to ${safe(endpointName(e))} (from ${safe(endpointName(e.from))})`;
    default: {
      const never: never = e;
      return JSON.stringify(never);
    }
  }
}

export function formatJson(e: CliEvent): string {
  return JSON.stringify(e);
}

/** The CLI form of a 'rejoin-failed' event (an Error does not survive JSON). */
export function rejoinFailedEvent(f: RejoinFailedInfo): CliEvent {
  return { type: 'rejoin-failed', room: f.room, code: f.error.code, message: f.error.message };
}

/** HOST:PORT as typed on the command line ([v6]:PORT). */
export function serverName(host: string, port: number): string {
  return endpointName({ host, port });
}

/** The servers of --server in words: `a:7447`, `a:7447 or b:7447`, `a:7447, b:7447 or c:7447`. */
export function serversName(servers: readonly ServerAddress[]): string {
  const names = servers.map((s) => serverName(s.host, s.port));
  return names.length <= 1 ? (names[0] ?? '') : `${names.slice(0, -1).join(', ')} or ${names.at(-1)!}`;
}

/** An error in words, naming the server for the ones that are about it; never a request id. */
export function explain(err: unknown, server: string): string {
  if (err instanceof ClientError) {
    if (err.code === 'TIMEOUT') return `no answer from ${server}`;
    if (err.code === 'CLOSED') return 'closed before an answer came';
    return `${err.code}: ${safe(err.message)}`;
  }
  return safe(err instanceof Error ? err.message : String(err));
}
