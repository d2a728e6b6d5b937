// SIGINT/SIGTERM in a room process. A signal to the whole process group
// (Ctrl-C in a terminal, `timeout`, systemd's KillMode=control-group)
// reaches every room as well as the supervisor; a room that died of it at
// once would cut its members off without `closed`, while the supervisor logs
// a clean shutdown. The supervisor is about to send `shutdown` over IPC, so
// the room notes the signal and leaves the stop to it; only if no shutdown
// comes within the grace period does it close by itself (members get
// `closed {reason: "shutdown"}`) and exit 0. A second signal closes at once.
import type { Logger } from '../lib/logger.js';

export interface StopSignalOptions {
  log: () => Logger;
  /** Read when the signal arrives (the room's config may have come by then). */
  graceMs: () => number;
  /** Closes the room and exits; may be called after a shutdown already began. */
  stop: () => void;
}

/**
 * SIGHUP asks chatd to reload (supervisor/reload.ts), and the supervisor
 * tells each room what changed over IPC. A room must not die of a SIGHUP
 * that reaches it too (Node's default): sent to the process group, or the
 * group's terminal closing.
 */
export function ignoreHangup(log: () => Logger): void {
  process.on('SIGHUP', () => log().info({ event: 'room_signal', signal: 'SIGHUP', action: 'ignore' }, 'SIGHUP ignored: the supervisor reloads and tells the room'));
}

export function deferStopSignals(o: StopSignalOptions): void {
  let first: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals): void => {
    if (first) {
      o.log().warn({ event: 'room_signal', signal, action: 'close now' }, 'second signal: closing the room now');
      return o.stop();
    }
    first = signal;
    const graceMs = o.graceMs();
    o.log().info({ event: 'room_signal', signal, graceMs, action: 'wait for the supervisor' }, 'signal received; the supervisor stops the room');
    setTimeout(() => {
      o.log().warn({ event: 'room_signal_timeout', signal, graceMs }, 'no shutdown from the supervisor in time; closing the room');
      o.stop();
    }, graceMs);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
}
