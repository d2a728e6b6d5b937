// The last word of a chatd process (supervisor or room) that hit an error
// nothing caught: one `fatal` JSON line with the stack, a bounded flush, and
// an exit code of its own, so the log says what happened and the restart
// policy (or the operator) sees a crash rather than a silent exit.
import type { Logger } from './logger.js';

/** Exit code of a process that died of an uncaught error (EX_SOFTWARE in sysexits.h). */
export const EXIT_UNCAUGHT = 70;
/** How long the fatal line (and what was queued before it) gets to reach the log reader. */
export const FATAL_FLUSH_MS = 1_000;

interface Flushable {
  flushWithin(timeoutMs: number): Promise<boolean>;
}

/**
 * log: the process's current logger (a room's gains its room name after
 * init, hence a getter); sink: where it writes.
 */
export function installFatalHandlers(log: () => Logger, sink: Flushable): void {
  let dying = false;
  const die = (err: unknown, origin: string): void => {
    // A second error while the first is being logged: the exit is on its way.
    if (dying) return;
    dying = true;
    process.exitCode = EXIT_UNCAUGHT;
    try {
      log().fatal({ event: 'uncaught', origin, err }, `uncaught ${origin}; exiting`);
    } catch {
      /* the logger itself is broken: exit anyway */
    }
    void sink.flushWithin(FATAL_FLUSH_MS).finally(() => process.exit(EXIT_UNCAUGHT));
  };
  process.on('uncaughtException', (err, origin) => die(err, origin));
  process.on('unhandledRejection', (reason) => die(reason, 'unhandledRejection'));
}
