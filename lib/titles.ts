// Process titles, so that `ps` tells an operator which process is which:
// the supervisor is `chatd` with its arguments (`chatd --config
// /etc/chatd/chatd.json`: which config it runs, and `pgrep -f chatd.json`
// still finds it), a room process `chatd room NAME` once it has its room,
// `chatd room (pooled)` while it waits in the pool.
// supervisor/data-dir.ts knows a running chatd by its title.

export const SUPERVISOR_TITLE = 'chatd';

/** The supervisor's title: `chatd` and its arguments (shorter than node's path and the script's, so it fits). */
export function supervisorTitle(args: readonly string[]): string {
  return [SUPERVISOR_TITLE, ...args].join(' ');
}

/** Whether a process's first command-line word is a supervisor's title (not a room's). */
export function isSupervisorTitle(first: string): boolean {
  return first === SUPERVISOR_TITLE || (first.startsWith(`${SUPERVISOR_TITLE} `) && !first.startsWith(`${SUPERVISOR_TITLE} room`));
}
export const POOLED_ROOM_TITLE = 'chatd room (pooled)';
export const STARTING_ROOM_TITLE = 'chatd room (starting)';

export function roomTitle(room: string): string {
  return `chatd room ${room}`;
}

/**
 * Linux gives a title only the bytes of the process's original command line
 * (node's path, the script's, the arguments): a room process is forked with
 * this argument as well, so that `chatd room NAME` fits whole for the longest
 * room name (64 characters), wherever node and chatd are installed.
 */
export const TITLE_ROOM_ARG = `--title-room=${'_'.repeat(64)}`;
