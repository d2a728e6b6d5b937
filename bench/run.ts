// `npm run bench`: starts the compiled chatd (config/bench.json, ephemeral
// port, loopback only) once per scenario, runs bounded load against it,
// prints one table per scenario, and kills every process it started.
import { cpus, loadavg } from 'node:os';
import { startChatd, type Chatd } from './chatd-process.js';
import { CONTENDED_PCT, FANOUT_CPU_HEADERS, FANOUT_HEADERS, fanoutCells, fanoutCpuCells, runFanout, type FanoutRow } from './fanout.js';
import { JOIN_HEADERS, joinCells, runJoinLatency } from './join-latency.js';
import { MEMORY_HEADERS, memoryCells, runMemory } from './memory.js';
import { killAllStarted, stillRunning } from './pids.js';
import { RECOVERY_HEADERS, recoveryCells, recoveryMedianCells, runRecovery } from './recovery.js';
import { formatTable, fmt } from './table.js';

const STEP_MS = 3_000;
const WORKERS = 2;
const MAX_LOSS_PCT = 1;
const LADDERS: Array<{ members: number; rates: number[] }> = [
  { members: 10, rates: [1_000, 2_000, 5_000, 10_000, 20_000] },
  { members: 100, rates: [500, 1_000, 2_000, 4_000] },
];

const print = (s = '') => process.stdout.write(s + '\n');

/** Runs fn against a fresh chatd, always stopping it; then names chatd's warn/error log events, if any. */
async function withChatd<T>(fn: (c: Chatd) => Promise<T>): Promise<T> {
  const chatd = await startChatd();
  try {
    const out = await fn(chatd);
    const exit = chatd.exitInfo();
    if (exit) throw new Error(`chatd exited during the scenario (code ${exit.code}, signal ${exit.signal}): its figures are void`);
    return out;
  } finally {
    await chatd.stop();
    const counts = new Map<string, number>();
    for (const l of chatd.logs) {
      // chatd logs level labels; numbers are pino's default form.
      const lv = l['level'];
      if (lv === 'warn' || lv === 'error' || lv === 'fatal' || (typeof lv === 'number' && lv >= 40)) {
        counts.set(String(l.event), (counts.get(String(l.event)) ?? 0) + 1);
      }
    }
    if (counts.size > 0) notes.push(`chatd warn/error log lines: ${[...counts].map(([e, n]) => `${e} x${n}`).join(', ')}`);
  }
}

/** Printed under the table of the scenario that produced them. */
let notes: string[] = [];
function printNotes(): void {
  for (const n of notes) print(`   ${n}`);
  notes = [];
}

async function main(): Promise<void> {
  const t0 = Date.now();
  const cpu = cpus();
  print(
    `chatd bench  ${new Date().toISOString()}  cpu: ${cpu[0]?.model ?? '?'}  cores: ${cpu.length}  node: ${process.version}  ` +
      `load avg at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`,
  );
  print();

  // 1. fan-out
  const fanRows: FanoutRow[] = [];
  for (const l of LADDERS) {
    await withChatd((c) =>
      runFanout(c, { members: l.members, rates: l.rates, stepMs: STEP_MS, workers: WORKERS, maxLossPct: MAX_LOSS_PCT }, (r) => fanRows.push(r)),
    );
  }
  print(
    formatTable(
      `1. fan-out: 1 room, N members (the sender is one; its copy is its ack), ~100-char says at a fixed offered rate for ${STEP_MS / 1000} s per step; ladder stops when loss > ${MAX_LOSS_PCT} %`,
      FANOUT_HEADERS,
      fanRows.map(fanoutCells),
    ),
  );
  print();
  print(
    formatTable(
      '1b. fan-out CPU, as % of one core over the step (CPU s/M deliv = room CPU seconds per million deliveries)',
      FANOUT_CPU_HEADERS,
      fanRows.map(fanoutCpuCells),
    ),
  );
  if (fanRows.some((r) => r.otherCpuPct > CONTENDED_PCT)) {
    notes.push(
      `* other processes on this host used over ${CONTENDED_PCT} % of a core during the step: chatd, the driver and the member workers ` +
        `shared the cores with them ("room waiting %" is how long the room was ready to run but had no core), so those figures understate chatd`,
    );
  }
  for (const r of fanRows) {
    const errs = Object.entries(r.senderErrors);
    if (errs.length > 0) notes.push(`the sender got errors at ${r.members} members, ${r.offered} msg/s: ${errs.map(([c, n]) => `${c} x${n}`).join(', ')}`);
  }
  printNotes();
  print();

  // 2. join latency
  const joins = await withChatd((c) => runJoinLatency(c));
  print(formatTable('2. join latency: join -> joined, sequential, each from a new socket', JOIN_HEADERS, joins.rows.map(joinCells)));
  print(`   room process fork -> ready (supervisor's startMs) for the creating joins: ${joins.forkMs.join(', ')} ms`);
  printNotes();
  print();

  // 3. recovery
  const rec = await withChatd((c) => runRecovery(c));
  print(
    formatTable(
      '3. recovery: SIGKILL the room process while one member says every 5 ms; time to the first msg (sent after the kill) reaching another member',
      RECOVERY_HEADERS,
      [...rec.map(recoveryCells), recoveryMedianCells(rec)],
    ),
  );
  printNotes();
  print();

  // 4. memory
  const mem = await withChatd((c) => runMemory(c));
  print(formatTable('4. memory (idle, after 1 s)', MEMORY_HEADERS, mem.map(memoryCells)));
  printNotes();
  print();
  print(`total ${fmt((Date.now() - t0) / 1000, 1)} s; load avg at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

let interrupted = false;
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (interrupted) return;
    interrupted = true;
    const killed = killAllStarted();
    process.stderr.write(`bench: ${sig}: killed ${killed.length ? killed.join(', ') : 'nothing (all had exited)'}\n`);
    process.exit(130);
  });
}

try {
  await main();
} catch (err) {
  process.exitCode = 1;
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
} finally {
  // Normally each scenario stopped its chatd already; this is the fallback.
  const survivors = killAllStarted();
  if (survivors.length > 0) {
    process.exitCode = 1;
    process.stderr.write(`bench: processes left running were SIGKILLed: ${survivors.join(', ')}\n`);
  }
  if (stillRunning().length > 0) process.stderr.write(`bench: still running: ${stillRunning().join(', ')}\n`);
}
