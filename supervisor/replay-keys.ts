// Keys of the supervisor's replay cache (Supervisor.replay): a retry of a
// successful join or leave, from the same endpoint with the same id, gets the
// same reply (protocol "Requests and idempotence"). A leave through the room
// endpoint is cached under the control leave's key, because clients retry a
// lost `left` at the control endpoint (protocol "Leave after the room is gone").

export function joinReplayKey(endpoint: string, room: string, id: string): string {
  return `join\u0000${endpoint}\u0000${room}\u0000${id}`;
}

export function leaveReplayKey(endpoint: string, room: string, id: string): string {
  return `leave\u0000${endpoint}\u0000${room}\u0000${id}`;
}
