// `npm start` builds first, so a build runs under a chatd that keeps
// forking rooms: build/ must never be missing what a room loads, and the
// native helper must never be half-written (rooms/native/build.ts).
import { spawn, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { scratchDir } from './helpers/ops.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const BUILD = join(ROOT, 'build');
/**
 * A command as run by hand: without the test runner's module hooks, which
 * it puts into NODE_OPTIONS of every child (the compiler does not load under them).
 */
const plain = (cmd: string, ...args: string[]): [string, string[]] => ['env', ['-u', 'NODE_OPTIONS', cmd, ...args]];

t.test('npm run build leaves build/ in place: what a room loads is there throughout', async (t) => {
  const watched = [join(BUILD, 'rooms', 'main.js'), join(BUILD, 'supervisor', 'main.js')];
  const helper = join(BUILD, 'rooms', 'native', 'udp-batch.node');
  if (existsSync(helper)) watched.push(helper);
  const helperBefore = existsSync(helper) ? statSync(helper) : undefined;
  const missing = new Set<string>();
  const poll = setInterval(() => {
    for (const f of watched) if (!existsSync(f)) missing.add(f);
  }, 1);
  const build = spawn(...plain('npm', 'run', 'build'), { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  t.teardown(() => {
    clearInterval(poll);
    if (build.exitCode === null) build.kill('SIGKILL');
  });
  let out = '';
  build.stdout.on('data', (d: Buffer) => (out += d.toString()));
  build.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const code = await new Promise<number | null>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`npm run build did not finish in 120 s: ${out}`)), 120_000);
    build.once('exit', (c) => {
      clearTimeout(timer);
      resolve(c);
    });
  });
  clearInterval(poll);
  t.equal(code, 0, `the build succeeds: ${out.slice(-500)}`);
  t.same([...missing], [], 'no file a room loads went missing during the build');
  if (helperBefore) {
    const after = statSync(helper);
    t.equal(after.ino, helperBefore.ino, 'the up-to-date native helper was left alone');
    t.match(out, /native fan-out helper up to date/);
  }
  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> };
  t.match(pkg.scripts['clean'], /rmSync\('build'/, 'npm run clean is the full clean');
});

/**
 * The native build script copied into a scratch tree, with a fake compiler:
 * it writes its -o file in two halves 300 ms apart (a slow link), or fails.
 */
function nativeTree(t: Test) {
  const dir = scratchDir(t, 'chatd-native-');
  mkdirSync(join(dir, 'rooms', 'native'), { recursive: true });
  mkdirSync(join(dir, 'build', 'rooms', 'native'), { recursive: true });
  const source = join(dir, 'rooms', 'native', 'udp-batch.cc');
  copyFileSync(join(ROOT, 'rooms', 'native', 'udp-batch.cc'), source);
  const script = join(dir, 'build', 'rooms', 'native', 'build.js');
  copyFileSync(join(BUILD, 'rooms', 'native', 'build.js'), script);
  const output = join(dir, 'build', 'rooms', 'native', 'udp-batch.node');
  const calls = join(dir, 'cxx-calls');
  const cxx = join(dir, 'fake-cxx');
  writeFileSync(
    cxx,
    `#!/bin/sh
out=""; prev=""
for a in "$@"; do [ "$prev" = "-o" ] && out="$a"; prev="$a"; done
echo "$out" >> "${calls}"
[ -n "$FAKE_CXX_FAIL" ] && { echo "fake compile error" >&2; exit 1; }
printf 'first-half-' > "$out"; sleep 0.3; printf 'second-half' >> "$out"
`,
  );
  chmodSync(cxx, 0o755);
  const run = (env: Record<string, string> = {}) => {
    const partial = new Set<string>();
    // Polled from another process: the build script blocks this one's loop while the compiler runs.
    const watcher = spawn(process.execPath, [
      '-e',
      `const fs = require('fs'); const t0 = Date.now();
       const seen = new Set();
       const iv = setInterval(() => { try { seen.add(fs.readFileSync(${JSON.stringify(output)}, 'utf8')); } catch {} }, 2);
       process.stdin.on('data', () => { clearInterval(iv); process.stdout.write(JSON.stringify([...seen])); process.exit(0); });`,
    ], { stdio: ['pipe', 'pipe', 'inherit'] });
    return new Promise<{ status: number | null; stdout: string; seen: string[] }>((resolve) => {
      setTimeout(() => {
        const r = spawnSync(...plain(process.execPath, script), { env: { ...process.env, CXX: cxx, ...env }, encoding: 'utf8', timeout: 30_000 });
        let seen = '';
        watcher.stdout.on('data', (d: Buffer) => (seen += d.toString()));
        watcher.once('exit', () => {
          for (const s of JSON.parse(seen || '[]') as string[]) partial.add(s);
          resolve({ status: r.status, stdout: r.stdout, seen: [...partial] });
        });
        watcher.stdin.write('done\n');
      }, 100);
    });
  };
  const callCount = () => (existsSync(calls) ? readFileSync(calls, 'utf8').split('\n').filter(Boolean).length : 0);
  const leftovers = () => readdirSync(join(dir, 'build', 'rooms', 'native')).filter((f) => f !== 'build.js' && f !== 'udp-batch.node');
  return { source, output, run, callCount, leftovers };
}

t.test('the native helper is written whole (temp file + rename), skipped when up to date, kept when a rebuild fails', async (t) => {
  const n = nativeTree(t);
  const first = await n.run();
  t.equal(first.status, 0);
  t.equal(readFileSync(n.output, 'utf8'), 'first-half-second-half', 'built');
  t.same(first.seen.filter((s) => s !== 'first-half-second-half'), [], 'never seen half-written at its own name');
  t.same(n.leftovers(), [], 'no temporary file left');
  const ino = statSync(n.output).ino;

  const again = await n.run();
  t.equal(again.status, 0);
  t.equal(n.callCount(), 1, 'up to date: the compiler did not run again');
  t.match(again.stdout, /up to date/);
  t.equal(statSync(n.output).ino, ino, 'the file was not touched');

  const future = new Date(Date.now() + 60_000);
  utimesSync(n.source, future, future);
  const failed = await n.run({ FAKE_CXX_FAIL: '1' });
  t.equal(failed.status, 0, 'a failed compile does not fail the build (rooms fall back to dgram)');
  t.match(failed.stdout, /not built .*the previous helper stays/s);
  t.equal(readFileSync(n.output, 'utf8'), 'first-half-second-half', 'the previous helper stays');
  t.same(n.leftovers(), [], 'no temporary file left');

  const rebuilt = await n.run();
  t.equal(rebuilt.status, 0);
  t.not(statSync(n.output).ino, ino, 'a rebuild replaces the file (a new inode: running rooms keep the old one mapped)');
  t.same(rebuilt.seen.filter((s) => s !== 'first-half-second-half'), [], 'never seen half-written at its own name');
});
