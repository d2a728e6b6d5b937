// Builds the room's native fan-out helper (udp-batch.cc) into
// build/rooms/native/udp-batch.node; run by `npm run build` after tsc. The
// helper is an optimization: where g++ or Node's headers are missing, or the
// compile fails, this says so and exits 0, and rooms send through dgram.
// A build may run under a running chatd (`npm start` builds first): rooms
// forked meanwhile load this file, and running ones have it mapped. So an
// up-to-date helper is left alone, and a new one is compiled to a temporary
// name and renamed into place: a room loads the old file or the new one,
// never a half-written one, and a running room keeps the inode it mapped.
//   node build/rooms/native/build.js
import { spawnSync } from 'node:child_process';
import { existsSync, renameSync, rmSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url)); // build/rooms/native
const root = resolve(here, '..', '..', '..');
const source = join(root, 'rooms', 'native', 'udp-batch.cc');
const output = join(here, 'udp-batch.node');

/** Node's headers: beside the running node (…/bin/node → …/include/node), or npm's nodedir. */
function includeDir(): string | undefined {
  const candidates = [join(dirname(process.execPath), '..', 'include', 'node')];
  const nodedir = process.env['npm_config_nodedir'];
  if (nodedir) candidates.push(join(nodedir, 'include', 'node'));
  return candidates.find((d) => existsSync(join(d, 'node_api.h')));
}

function main(): void {
  if (process.platform !== 'linux') return skip(`sendmmsg(2) is Linux-only (this is ${process.platform})`);
  if (existsSync(output) && statSync(output).mtimeMs >= statSync(source).mtimeMs) {
    process.stdout.write(`native fan-out helper up to date: ${output}\n`);
    return;
  }
  const include = includeDir();
  if (!include) return skip("Node's headers (node_api.h) were not found");
  const cxx = process.env['CXX'] ?? 'g++';
  const temp = `${output}.${process.pid}.tmp`;
  const args = ['-O2', '-std=c++17', '-shared', '-fPIC', '-Wall', '-DNODE_GYP_MODULE_NAME=udp_batch', `-I${include}`, '-o', temp, source];
  const r = spawnSync(cxx, args, { encoding: 'utf8' });
  if (r.error || r.status !== 0) {
    rmSync(temp, { force: true });
    const why = r.error ? `${cxx} could not run (${r.error.message})` : `${cxx} failed:\n${r.stderr}`;
    return skip(existsSync(output) ? `${why}; the previous helper stays` : why);
  }
  renameSync(temp, output);
  process.stdout.write(`native fan-out helper built: ${output}\n`);
}

function skip(why: string): void {
  process.stdout.write(`native fan-out helper not built (${why}); rooms will send with dgram\n`);
}

main();
