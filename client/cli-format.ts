// How the `chat` command shows events: human lines or NDJSON. Text from the
// network is made safe for a terminal first: control and format characters
// (escape sequences, bidi overrides) could rewrite what the user sees.
import type { GapInfo, MsgEvent, PresenceEvent } from './chat-client.js';

export type CliEvent =
  | MsgEvent
  | PresenceEvent
  | ({ type: 'gap' } & GapInfo)
  | { type: 'closed'; room: string; reason: string }
  | { type: 'evicted'; room: string };

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
    default: {
      const never: never = e;
      return JSON.stringify(never);
    }
  }
}

export function formatJson(e: CliEvent): string {
  return JSON.stringify(e);
}
