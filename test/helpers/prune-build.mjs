// Run by `npm test` before its incremental build, so that build/ holds what
// a clean build would: tsc never deletes the output of a source that is
// gone (a deleted test would still run from build/test/), and an
// incremental tsc does not emit again an output deleted by hand (which a
// test would then miss), so then the next build is made a full one.
// Plain JavaScript: it runs before anything is compiled.
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));
const build = join(root, 'build');

/** True if a source under tsconfig.json's include has no output, or that cannot be told. */
function outputMissing() {
  try {
    const { include } = JSON.parse(readFileSync(join(root, 'tsconfig.json'), 'utf8'));
    for (const dir of include) {
      for (const f of readdirSync(join(root, dir), { recursive: true })) {
        if (f.endsWith('.ts') && !f.endsWith('.d.ts') && !existsSync(join(build, dir, `${f.slice(0, -3)}.js`))) return true;
      }
    }
    return false;
  } catch {
    return true;
  }
}

if (existsSync(build)) {
  let removed = 0;
  for (const f of readdirSync(build, { recursive: true })) {
    const m = /^(.+)\.js(\.map)?$/.exec(f);
    if (m && !existsSync(join(root, `${m[1]}.ts`))) {
      rmSync(join(build, f));
      removed++;
    }
  }
  if (removed > 0) console.log(`removed ${removed} file(s) from build/ whose source is gone`);
  if (outputMissing()) {
    rmSync(join(build, 'tsconfig.tsbuildinfo'), { force: true });
    console.log('build/ misses an output: a full build follows');
  }
}
