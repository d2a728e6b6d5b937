// How the `chat` command shows events: human lines or NDJSON. Text from the
// network is made safe for a terminal first: control and format characters
// (escape sequences, bidi overrides) could rewrite what the user sees.
import type { GapInfo, MsgEvent, PresenceEvent, RejoinFailedInfo, RejoinedInfo, RejoiningInfo } from './chat-client.js';

export type CliEvent =
  | MsgEvent
  | PresenceEvent
  | ({ type: 'gap' } & GapInfo)
  | { type: 'closed'; room: string; reason: string }
  | { type: 'evicted'; room: string }
  | ({ type: 'rejoining' } & RejoiningInfo)
  | ({ type: 'rejoined' } & RejoinedInfo)
  | { type: 'rejoin-failed'; room: string; code: string; message: string };

const UNSAFE = /[\p{Cc}\p{Cf}\u2028\u2029]/gu;

export function safe(s: string): string {
  return s.replace(UNSAFE, '\uFFFD');
}

const PRESENCE_WORDS: Record<PresenceEvent['event'], string> = {
  join: 'joined',
  leave: 'left',
  evict: 'was evicted',
};

export function formatEvent(e: CliEvent): string {
  const room = `[${safe(e.room)}]`;
  switch (e.type) {
    case 'msg':
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
