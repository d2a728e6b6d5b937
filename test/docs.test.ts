// The docs are part of the contract with users: every error code is in
// docs/protocol.md and every config key in the README (fastify's check).
import { readFileSync } from 'node:fs';
import t from 'tap';
import { DEFAULTS, RELOAD } from '../lib/config.js';
import { ERROR_CODES } from '../lib/errors.js';
import { ManualClock } from '../lib/clock.js';
import { AdminMetrics } from '../supervisor/admin/metrics.js';
import { RoomStatsBook } from '../supervisor/admin/room-stats.js';
import { LocalRegistry } from '../supervisor/registry.js';

const root = new URL('../../', import.meta.url);
const read = (p: string) => readFileSync(new URL(p, root), 'utf8');

t.test('every error code is documented in docs/protocol.md', async (t) => {
  const doc = read('docs/protocol.md');
  for (const code of Object.keys(ERROR_CODES)) t.ok(doc.includes(`\`${code}\``), code);
});

t.test('every config key is documented in the README with its default', async (t) => {
  const readme = read('README.md');
  for (const [key, value] of Object.entries(DEFAULTS)) {
    // the row whose first cell names the key
    const row = readme.split('\n').find((l) => l.startsWith('|') && (l.split('|')[1] ?? '').includes(`\`${key}\``));
    t.ok(row, `${key} has a row`);
    t.ok(row?.includes(JSON.stringify(value)), `${key} row shows its default ${JSON.stringify(value)}`);
  }
});

t.test("the README's reload column says what lib/config.ts RELOAD says of each key", async (t) => {
  const words = { live: 'live', 'new-rooms': 'new rooms', restart: 'restart' } as const;
  const rows = read('README.md')
    .split('\n')
    .filter((l) => l.startsWith('| `'));
  for (const [key, cls] of Object.entries(RELOAD)) {
    const row = rows.find((l) => (l.split('|')[1] ?? '').includes(`\`${key}\``));
    t.equal(row?.split('|')[3]?.trim(), words[cls], key);
  }
});

t.test('config/default.json sets only known keys', async (t) => {
  const file = JSON.parse(read('config/default.json')) as Record<string, unknown>;
  for (const key of Object.keys(file)) t.ok(Object.hasOwn(DEFAULTS, key), key);
});

t.test('every chatd metric is documented in docs/operations.md', async (t) => {
  const doc = read('docs/operations.md');
  const clock = new ManualClock();
  const stats = new RoomStatsBook(clock, { labels: () => 1, statsIntervalMs: () => 1_000, isCurrent: () => true });
  const metrics = new AdminMetrics({ stats, registry: new LocalRegistry({ sub: () => {} }), node: () => '', ready: () => true });
  const names = metrics.registry.getMetricsAsArray().map((m) => (m as unknown as { name: string }).name);
  const own = names.filter((n) => !n.startsWith('chatd_supervisor_'));
  t.ok(own.length >= 20, `${own.length} metrics of chatd's own`);
  for (const name of own) t.ok(doc.includes(`\`${name}\``), name);
  t.ok(names.every((n) => n.startsWith('chatd_')), 'every name starts with chatd_');
});
