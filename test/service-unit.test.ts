// config/chatd.service and its config, config/chatd.service.json, held to
// what chatd does: the config loads, dataDir is the unit's state directory,
// systemd waits longer than chatd's own shutdown, a reload is SIGHUP, and
// the exit codes that no restart can fix are not restarted. systemd-analyze
// checks the unit's syntax where it is installed.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import t from 'tap';
import { loadConfigFile } from '../lib/config.js';
import { EXIT } from '../supervisor/exit-codes.js';

const root = new URL('../../', import.meta.url);
const unitPath = new URL('config/chatd.service', root).pathname;
const configPath = new URL('config/chatd.service.json', root).pathname;

/** The unit's settings, key -> values (a key may be set more than once). */
function parseUnit(text: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const line of text.split('\n')) {
    const m = /^([A-Za-z]+)=(.*)$/.exec(line.trim());
    if (!m) continue;
    out.set(m[1]!, [...(out.get(m[1]!) ?? []), m[2]!]);
  }
  return out;
}

const unit = parseUnit(readFileSync(unitPath, 'utf8'));
const one = (k: string) => unit.get(k)?.at(-1);

t.test('its config loads, and keeps the journals in the state directory systemd makes', async (t) => {
  const c = loadConfigFile(configPath);
  t.equal(c.dataDir, `/var/lib/${one('StateDirectory')}`);
  t.equal(one('StateDirectory'), 'chatd');
  t.match(one('ExecStart'), /^\/usr\/bin\/node \/opt\/chatd\/build\/supervisor\/main\.js --config \/etc\/chatd\/chatd\.json$/);
});

t.test('systemd waits longer than chatd takes to close its rooms, and signals chatd alone', async (t) => {
  const c = loadConfigFile(configPath);
  const stopMs = Number(one('TimeoutStopSec')) * 1000;
  t.ok(stopMs > c.shutdownTimeoutMs + 1_000, `TimeoutStopSec ${stopMs} ms > shutdownTimeoutMs ${c.shutdownTimeoutMs} ms + 1 s of log flush`);
  t.equal(one('KillMode'), 'mixed');
  t.equal(one('KillSignal'), 'SIGTERM');
  t.equal(one('ExecReload'), '/bin/kill -HUP $MAINPID', 'a reload is SIGHUP');
});

t.test('restarts after a failure, except for the exit codes no restart can fix', async (t) => {
  t.equal(one('Restart'), 'on-failure');
  t.same(one('RestartPreventExitStatus')?.split(/\s+/).map(Number).sort(), [EXIT.usage, EXIT.dataDirLocked].sort());
});

t.test('a user of its own, and the usual hardening', async (t) => {
  for (const [k, v] of [
    ['User', 'chatd'],
    ['NoNewPrivileges', 'yes'],
    ['ProtectSystem', 'strict'],
    ['ProtectHome', 'yes'],
    ['PrivateTmp', 'yes'],
    ['CapabilityBoundingSet', ''],
  ] as const) {
    t.equal(one(k), v, `${k}=${v}`);
  }
  t.ok(Number(one('LimitNOFILE')) >= 4096, 'LimitNOFILE');
  t.notOk(unit.has('MemoryDenyWriteExecute'), 'not MemoryDenyWriteExecute: V8 needs executable memory');
});

const noAnalyze = spawnSync('systemd-analyze', ['--version'], { encoding: 'utf8', timeout: 10_000 }).error ? 'systemd-analyze is not installed' : false;

t.test('systemd-analyze verify accepts the unit', { skip: noAnalyze }, async (t) => {
  const r = spawnSync('systemd-analyze', ['verify', unitPath], { encoding: 'utf8', timeout: 30_000 });
  // It checks that ExecStart's program exists: node elsewhere than /usr/bin is this machine's matter, not the unit's.
  const complaints = `${r.stderr}${r.stdout}`
    .split('\n')
    .filter((l) => l.trim() !== '' && !/Command \/usr\/bin\/node is not executable/.test(l));
  t.same(complaints, [], 'no complaints');
});
