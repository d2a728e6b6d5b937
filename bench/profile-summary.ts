// Summarizes a V8 CPU profile (.cpuprofile, as `node --cpu-prof` writes;
// `node build/bench/run.js --cpu-prof DIR` makes the servers under test
// write them): where the process spent its time, by function (self time)
// and by file, as % of the sampled time that was not idle.
//   node build/bench/profile-summary.js FILE.cpuprofile [top]
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

interface Profile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2];
const top = Number(process.argv[3] ?? 25);
if (!file) {
  process.stderr.write('usage: profile-summary.js FILE.cpuprofile [top]\n');
  process.exit(2);
}
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

/** A short name for a file: node's own modules as they are, packages from node_modules/, the project's from build/. */
function shortUrl(url: string): string {
  if (url === '') return '';
  const m = url.lastIndexOf('/node_modules/');
  if (m >= 0) return url.slice(m + 1);
  const i = url.indexOf('/build/');
  return i >= 0 ? url.slice(i + 1) : url.replace(/^file:\/\//, '');
}

const selfUs = new Map<string, number>();
const fileUs = new Map<string, number>();
/** Time under (inclusive of) a few frames worth naming. */
const inclusiveUs = new Map<string, number>();
let total = 0;
let idle = 0;
for (let i = 0; i < p.samples.length; i++) {
  const dt = p.timeDeltas[i] ?? 0;
  const node = byId.get(p.samples[i]!);
  if (!node) continue;
  total += dt;
  const f = node.callFrame;
  if (f.functionName === '(idle)') {
    idle += dt;
    continue;
  }
  const key = `${f.functionName || '(anonymous)'}  ${shortUrl(f.url)}${f.url ? `:${f.lineNumber + 1}` : ''}`;
  selfUs.set(key, (selfUs.get(key) ?? 0) + dt);
  const fk = shortUrl(f.url) || f.functionName;
  fileUs.set(fk, (fileUs.get(fk) ?? 0) + dt);
  // Every distinct function on the stack once (recursion counted once).
  const seen = new Set<string>();
  for (let id: number | undefined = node.id; id !== undefined; id = parent.get(id)) {
    const cf = byId.get(id)!.callFrame;
    const k = `${cf.functionName || '(anonymous)'}  ${shortUrl(cf.url)}`;
    if (seen.has(k)) continue;
    seen.add(k);
    inclusiveUs.set(k, (inclusiveUs.get(k) ?? 0) + dt);
  }
}
const busy = total - idle;
const pct = (us: number) => ((100 * us) / busy).toFixed(1).padStart(5);
const print = (s: string) => process.stdout.write(s + '\n');
process.stdout.on('error', () => process.exit(0)); // e.g. piped into head
print(`${file}: ${(total / 1e6).toFixed(1)} s sampled, ${(busy / 1e6).toFixed(2)} s not idle (${((100 * busy) / total).toFixed(0)} %); % below are of the not-idle time`);
print('');
print(`self time, top ${top} functions:`);
for (const [k, us] of [...selfUs].sort((a, b) => b[1] - a[1]).slice(0, top)) print(`  ${pct(us)} %  ${k}`);
print('');
print('self time by file:');
for (const [k, us] of [...fileUs].sort((a, b) => b[1] - a[1]).slice(0, 15)) print(`  ${pct(us)} %  ${k}`);
print('');
print(`inclusive time (the function or anything it called), top ${top}:`);
for (const [k, us] of [...inclusiveUs].sort((a, b) => b[1] - a[1]).slice(0, top)) print(`  ${pct(us)} %  ${k}`);
