// Builds the room's native fan-out helper (udp-batch.cc) into
// build/rooms/native/udp-batch.node; run by `npm run build` after tsc. The
// helper is an optimization: where g++ or Node's headers are missing, or the
// compile fails, this says so and exits 0, and rooms send through dgram.
// A build may run under a running chatd (`npm start` builds first): rooms
// forked meanwhile load this file, and running ones have it mapped. So an
// up-to-date helper is left alone, and a new one is compiled to a temporary
// name and renamed into place: a room loads the old file or the new one,
// never a half-written one, and a running room keeps the inode it mapped.
// Up to date means: not older than its source, and built with the same
// compiler and flags from Node-API headers of the same content (recorded in
// build/rooms/udp-batch.node.inputs): their mtimes cannot tell, as a newer
// Node unpacked from an archive keeps the archive's older ones.
//   node build/rooms/native/build.js
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // build/rooms/native
const root = resolve(here, '..', '..', '..');
const source = join(root, 'rooms', 'native', 'udp-batch.cc');
const output = join(here, 'udp-batch.node');
// Not in build/rooms/native/, which is to hold only the helper and this script.
const inputsFile = join(here, '..', 'udp-batch.node.inputs');

/** Node's headers: beside the running node (…/bin/node → …/include/node), or npm's nodedir. */
function includeDir(): string | undefined {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node')];
  const nodedir = process.env['npm_config_nodedir'];
  if (nodedir) candidates.push(join(nodedir, 'include', 'node'));
  return candidates.find((d) => existsSync(join(d, 'node_api.h')));
}

function flagsFor(include: string): string[] {
  return ['-O2', '-std=c++17', '-shared', '-fPIC', '-Wall', '-DNODE_GYP_MODULE_NAME=udp_batch', `-I${include}`];
}

/** What the helper is built from besides its source: the compiler, its flags, and the Node-API headers' content. */
function inputs(cxx: string, include: string): string {
  const headers = createHash('sha256');
  for (const f of readdirSync(include).filter((n) => /^(node_api|js_native_api).*\.h$/.test(n)).sort()) {
    headers.update(f).update('\0').update(readFileSync(join(include, f))).update('\0');
  }
  return JSON.stringify({ cxx, flags: flagsFor(include), headers: headers.digest('hex') }) + '\n';
}

function readOr(path: string, fallback: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return fallback;
  }
}

function main(): void {
  if (process.platform !== 'linux') return skip(`sendmmsg(2) is Linux-only (this is ${process.platform})`);
  const include = includeDir();
  const cxx = process.env['CXX'] ?? 'g++';
  const wanted = include === undefined ? undefined : inputs(cxx, include);
  const fresh = existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs;
  // Without headers nothing can be rebuilt: a helper not older than its source is kept as it is.
  if (fresh && (wanted === undefined || readOr(inputsFile, '') === wanted)) {
    process.stdout.write(`native fan-out helper up to date: ${output}\n`);
    return;
  }
  if (include === undefined || wanted === undefined) return skip("Node's headers (node_api.h) were not found");
  const temp = `${output}.${process.pid}.tmp`;
  const r = spawnSync(cxx, [...flagsFor(include), '-o', temp, source], { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(temp, { force: true });
    const why = r.error ? `${cxx} could not run (${r.error.message})` : `${cxx} failed:\n${r.stderr}`;
    return skip(existsSync(output) ? `${why}; the previous helper stays` : why);
  }
  renameSync(temp, output);
  // Only after the rename: a build stopped in between rebuilds next time rather than trust a stale helper.
  writeFileSync(inputsFile, wanted);
  process.stdout.write(`native fan-out helper built: ${output}\n`);
}

function skip(why: string): void {
  process.stdout.write(`native fan-out helper not built (${why}); rooms will send with dgram\n`);
}

main();
