// chatd's exit codes: one table, printed by --help and listed in the README
// (test/e2e-ops-start.test.ts holds both to it), so a service manager or a
// script can tell why chatd stopped.
import { EXIT_UNCAUGHT } from '../lib/fatal.js';

export const EXIT = {
  stopped: 0,
  forced: 1,
  usage: 2,
  cannotListen: 3,
  dataDirUnusable: 4,
  dataDirLocked: 5,
  uncaught: EXIT_UNCAUGHT,
} as const;

export const EXIT_MEANINGS: ReadonlyArray<readonly [number, string]> = [
  [EXIT.stopped, 'stopped (a signal, rooms closed)'],
  [EXIT.forced, 'forced stop (a second signal), or an unexpected error at start'],
  [EXIT.usage, 'bad usage or config, or the log destination cannot be opened'],
  [EXIT.cannotListen, 'cannot listen (port in use, needs privileges, not an address of this machine)'],
  [EXIT.dataDirUnusable, 'dataDir unusable (not a directory, read-only, no permission, no space)'],
  [EXIT.dataDirLocked, 'dataDir locked by another running chatd'],
  [EXIT.uncaught, 'internal error: an uncaught exception (the log has a fatal line with the stack)'],
];
