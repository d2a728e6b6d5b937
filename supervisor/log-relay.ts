// Rooms log JSON lines to their stdout pipe; the supervisor writes each whole
// line to its own destination, so lines from many processes never interleave
// mid-line (children writing to one shared pipe corrupted 0-40 of 180,000
// lines under load in a test with 8 children; relayed whole lines, none).
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface LineSink {
  write(chunk: string): unknown;
}

/** Relays still open: a room's pipe can hold its last lines after its exit is known. */
const open = new Set<Promise<void>>();

export function relayLines(from: Readable, to: LineSink): void {
  const rl = createInterface({ input: from, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (line.length > 0) to.write(line + '\n');
  });
  const ended = new Promise<void>((resolve) => rl.once('close', resolve));
  open.add(ended);
  void ended.then(() => open.delete(ended));
}

/**
 * Resolves once every relayed pipe has ended, or after timeoutMs. A child's
 * exit can be seen before the rest of its pipe is read; chatd waits for this
 * before it exits, so a room's last lines (`room_signal`, `room_stopping`)
 * are in the log.
 */
export async function relaysEnded(timeoutMs: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([Promise.all(open), new Promise((resolve) => (timer = setTimeout(resolve, timeoutMs)))]);
  clearTimeout(timer);
}
