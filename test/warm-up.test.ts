import t from 'tap';
import { pino } from 'pino';
import { warmUp } from '../rooms/warm-up.js';

t.test('the warm-up of a pooled room process runs its paths and leaves no trace in the real log', async (t) => {
  const lines: string[] = [];
  // The process's real logger at its most verbose: anything the throwaway room logged through it would show.
  const log = pino({ level: 'trace' }, { write: (s: string) => void lines.push(s) });
  await warmUp(log);
  t.same(lines, [], 'the throwaway room logged nothing through the real logger');
});

