// Rooms log JSON lines to their stdout pipe; the supervisor writes each whole
// line to its own destination, so lines from many processes never interleave
// mid-line (one shared fd corrupts lines under load: shared/toolchain.md).
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';

export interface LineSink {
  write(chunk: string): unknown;
}

export function relayLines(from: Readable, to: LineSink): void {
  const rl = createInterface({ input: from, crlfDelay: Infinity });
  rl.on('line', (line) => {
    if (line.length > 0) to.write(line + '\n');
  });
}
