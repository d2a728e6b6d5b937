// `npm run bench`: starts the compiled chatd (config/bench.json, ephemeral
// port, loopback only) once per scenario, runs bounded load against it,
// prints one table per scenario, and kills every process it started. The
// "compare" scenario runs the same fan-out against baselines too.
//   node build/bench/run.js [--only fanout|compare|join|recovery|memory|many|fanout8k]
//                           [--members 100|10] [--cpu-prof DIR] [--host H]
// --host H binds chatd to H instead of 127.0.0.1 (0.0.0.0: one socket per
// local address, to measure what serving a multihomed host costs; the
// load still comes over loopback); --only runs one scenario; --members limits the fan-out and comparison
// ladders to one room size; --cpu-prof DIR makes chatd (supervisor and
// rooms) and the baseline servers write V8 CPU profiles into DIR when they
// exit (summarize one with build/bench/profile-summary.js).
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { cpus, loadavg, tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { startChatd, type Chatd } from '../test/helpers/chatd.js';
import {
  COMPARE_LADDERS,
  COMPARE_RATIO_HEADERS,
  COMPARE_STEP_HEADERS,
  COMPARE_SUMMARY_HEADERS,
  COMPARE_TARGETS,
  compareRatioCells,
  compareStepCells,
  compareSummaryCells,
  maxRatio,
  NGIRCD_DELIVERIES_PER_S,
  P99_LIMIT_MS,
  perCpuSecond,
  REF_DELIVERIES_PER_S,
  summarize,
  targetLine,
  targetLines,
  type CompareSummary,
} from './compare.js';
import {
  CONTENDED_PCT,
  KEPT_UP_SHARE,
  SUSTAINED_LOSS_PCT,
  FANOUT_CPU_HEADERS,
  FANOUT_HEADERS,
  FanoutSession,
  fanoutCells,
  fanoutCpuCells,
  runFanout,
  runLadder,
  type FanoutRow,
} from './fanout.js';
import { JOIN_HEADERS, joinCells, runJoinLatency } from './join-latency.js';
import { FAILOVER_HEADERS, failoverCells, failoverSummary, REMOTE_JOIN_HEADERS, remoteJoinCells, ROOMS_PER_NODE_HEADERS, roomsPerNodeCells, runFailover, runRemoteJoin, runRoomsPerNode, type RoomsPerNodeRow } from './cluster.js';
import { skipReason as natsSkipReason, startNatsServers } from '../test/helpers/nats.js';
import { MANY_MEMBERS, MANY_ROOM_COUNTS, MANY_STEP_HEADERS, MANY_SUMMARY_HEADERS, MANY_SUMMARY_TITLE, manyStepCells, manySummaryRows, manyTargetLines, runManyRooms } from './many-rooms.js';
import { MEMORY_HEADERS, memoryCells, runMemory } from './memory.js';
import { killAllStarted, stillRunning } from '../test/helpers/pids.js';
import { RECOVERY_HEADERS, recoveryCells, recoveryMedianCells, runRecovery } from './recovery.js';
import { SEND_COST_HEADERS, runSendCost, sendCostCells } from './send-cost.js';
import { median } from './stats.js';
import { formatTable, fmt } from './table.js';
import { chatdTarget, relayTarget, socketIoTarget, type FanoutTarget, type TargetKind } from './targets.js';

const STEP_MS = 3_000;
const WORKERS = 2;
const MAX_LOSS_PCT = 1;
/** Comparison steps that failed on a busy host and are run again, at most, per ladder (see FanoutOptions.retryContended). */
const RETRIES_PER_LADDER = 10;
/**
 * The fan-out ladders: offered msgs/s of the room, split evenly over its
 * senders. With 4 senders only the 1-sender ladder's top rungs, which keeps
 * the run short: below them one sender is far from any limit.
 */
const LADDERS: Array<{ members: number; senders: number; rates: number[] }> = [
  { members: 10, senders: 1, rates: [1_000, 2_000, 5_000, 10_000, 20_000] },
  { members: 10, senders: 4, rates: [10_000, 20_000] },
  { members: 100, senders: 1, rates: [500, 1_000, 2_000, 4_000] },
  { members: 100, senders: 4, rates: [2_000, 4_000] },
];
/** Several senders in one room deliver at least this share of what one sender does (as the many-rooms scaling target). */
const SENDERS_TARGET = 0.9;
/** The 100-member, 1-sender fan-out with maxDatagramBytes raised to 8 KB (a loopback or jumbo-frame LAN setting). */
const LADDER_8K = { members: 100, rates: [1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 16_000, 20_000, 24_000, 32_000, 40_000] };
const DATAGRAM_8K = 8_192;
/** chatd on par with ngircd's figure: its quoted figure is a reference, not a target of the project. */
const NGIRCD_TARGET = 1;
/** Many-rooms steps that failed on a busy host and are run again, at most (see FanoutOptions.retryContended). */
const RETRIES_MANY = 2;
/** Cluster mode's targets (docs/cluster.md): fan-out with the journal in JetStream, against a single node's in the same run. */
const CLUSTER_FANOUT_TARGETS = { r1: 0.5, r3: 0.3 };
const CLUSTER_FANOUT = { members: 100, rates: [500, 1_000, 2_000, 4_000, 6_000, 8_000, 10_000, 12_000, 16_000] };
const REMOTE_JOIN_EXTRA_MS = 3;
const FAILOVER_ROUNDS = 10;
const FAILOVER_P50_MS = 3_000;
const FAILOVER_MAX_MS = 6_000;
const ROOMS_PER_NODE = 20;


const SCENARIOS = ['fanout', 'compare', 'join', 'recovery', 'memory', 'many', 'fanout8k', 'sendcost', 'cluster'] as const;
type Scenario = (typeof SCENARIOS)[number];

function parseArgs(argv: string[]): { only: Scenario | undefined; members: number | undefined; cpuProfDir: string | undefined; host: string | undefined } {
  let host: string | undefined;
  let only: Scenario | undefined;
  let members: number | undefined;
  let cpuProfDir: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const value = () => {
      const v = argv[++i];
      if (v === undefined) throw new Error(`${a} needs a value`);
      return v;
    };
    if (a === '--only') {
      const v = value();
      if (!(SCENARIOS as readonly string[]).includes(v)) throw new Error(`--only ${v}: expected one of ${SCENARIOS.join(', ')}`);
      only = v as Scenario;
    } else if (a === '--members') {
      members = Number(value());
      if (!Number.isInteger(members) || members < 2) throw new Error(`--members ${members}: expected an integer >= 2`);
    } else if (a === '--cpu-prof') cpuProfDir = resolve(value());
    else if (a === '--host') host = value();
    else throw new Error(`unknown argument ${a} (usage: run.js [--only ${SCENARIOS.join('|')}] [--members N] [--cpu-prof DIR] [--host H])`);
  }
  return { only, members, cpuProfDir, host };
}

const args = parseArgs(process.argv.slice(2));
/** node options of the servers under test. */
const serverNodeArgs: string[] = args.cpuProfDir ? ['--cpu-prof', `--cpu-prof-dir=${args.cpuProfDir}`] : [];
const wanted = (s: Scenario) => args.only === undefined || args.only === s;
const ladderWanted = (members: number) => args.members === undefined || args.members === members;

// Resolved from this file's place (build/bench/), as the chatd it runs is.
const BENCH_CONFIG = fileURLToPath(new URL('../../config/bench.json', import.meta.url));

const print = (s = '') => process.stdout.write(s + '\n');

/**
 * Runs fn against a fresh chatd (config/bench.json, with `changes` applied
 * in a copy), always stopping it; then names chatd's warn/error log events,
 * if any.
 */
async function withChatd<T>(fn: (c: Chatd) => Promise<T>, changes: Record<string, unknown> = {}): Promise<T> {
  const teardowns: Array<() => unknown> = [];
  let chatd: Chatd | undefined;
  try {
    const host = args.host === undefined ? {} : { host: args.host };
    chatd = await startChatd({ teardown: (f) => teardowns.push(f) }, { ...host, ...changes }, {}, { baseConfig: BENCH_CONFIG, nodeArgs: serverNodeArgs });
    const out = await fn(chatd);
    const exit = chatd.exitInfo();
    if (exit) throw new Error(`chatd exited during the scenario (code ${exit.code}, signal ${exit.signal}): its figures are void`);
    return out;
  } finally {
    await chatd?.stop();
    for (const f of teardowns) await f();
    const counts = new Map<string, number>();
    for (const l of chatd?.logs ?? []) {
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
  if (args.cpuProfDir) mkdirSync(args.cpuProfDir, { recursive: true });
  print(
    `chatd bench  ${new Date().toISOString()}  cpu: ${cpu[0]?.model ?? '?'}  cores: ${cpu.length}  node: ${process.version}  ` +
      `load avg at start: ${loadavg().map((l) => l.toFixed(2)).join(' ')}` +
      (args.only ? `  only: ${args.only}` : '') +
      (args.members ? `  members: ${args.members}` : '') +
      (args.cpuProfDir ? `  cpu profiles: ${args.cpuProfDir}` : ''),
  );
  print();
  if (wanted('fanout')) await fanoutScenario();
  if (wanted('compare')) await compareScenario();
  if (wanted('join')) await joinScenario();
  if (wanted('recovery')) await recoveryScenario();
  if (wanted('memory')) await memoryScenario();
  if (wanted('many')) await manyScenario();
  if (wanted('fanout8k')) await fanout8kScenario();
  if (wanted('sendcost')) await sendCostScenario();
  if (wanted('cluster')) await clusterScenario();
  print(`total ${fmt((Date.now() - t0) / 1000, 1)} s; load avg at end: ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

function contendedNote(rows: FanoutRow[], what: string): void {
  if (rows.some((r) => r.otherCpuPct > CONTENDED_PCT)) {
    notes.push(
      `* other processes on this host used over ${CONTENDED_PCT} % of a core during the step: ${what}, the driver and the member workers ` +
        `shared the cores with them ("waiting %" is how long the server was ready to run but had no core), so those figures understate it`,
    );
  }
  for (const r of rows) {
    const errs = Object.entries(r.senderErrors);
    if (errs.length > 0) {
      notes.push(`the senders got errors at ${r.rooms} x ${r.members} members, ${r.senders} senders, ${r.offered} msg/s: ${errs.map(([c, n]) => `${c} x${n}`).join(', ')}`);
    }
  }
}

/** One fan-out ladder against chatd (a fresh chatd, config/bench.json with `changes`): one room, `senders` of its members saying. */
async function chatdLadder(members: number, senders: number, rates: number[], onRow: (r: FanoutRow) => void, changes: Record<string, unknown> = {}): Promise<void> {
  await withChatd(async (c) => {
    const target = await chatdTarget(c, `fanout-${members}`, senders);
    try {
      await runFanout(target, { members, rates, stepMs: STEP_MS, workers: WORKERS, maxLossPct: MAX_LOSS_PCT }, onRow);
    } finally {
      await target.close();
    }
  }, changes);
}

/** Prints a fan-out's two tables (deliveries, CPU) under the titles `n` and `n`b. */
function printFanout(n: string, title: string, rows: FanoutRow[]): void {
  print(formatTable(`${n}. ${title}`, FANOUT_HEADERS, rows.map(fanoutCells)));
  print();
  print(
    formatTable(
      `${n}b. fan-out CPU, as % of one core over the step (CPU s/M deliv = room CPU seconds per million deliveries)`,
      FANOUT_CPU_HEADERS,
      rows.map(fanoutCpuCells),
    ),
  );
  contendedNote(rows, 'chatd');
}

const SUSTAINED_RULE = `loss <= ${SUSTAINED_LOSS_PCT} %, >= ${KEPT_UP_SHARE * 100} % of the offered rate, p99 <= ${P99_LIMIT_MS} ms`;

async function fanoutScenario(): Promise<void> {
  const fanRows: FanoutRow[] = [];
  const ladders = LADDERS.filter((l) => ladderWanted(l.members));
  for (const l of ladders) await chatdLadder(l.members, l.senders, l.rates, (r) => fanRows.push(r));
  printFanout(
    '1',
    `fan-out: 1 room, N members, 1 or 4 of them senders (each its own socket and address; their copies are their acks), ~100-char says at a fixed offered rate ` +
      `(split over the senders) for ${STEP_MS / 1000} s per step; ladder stops when loss > ${MAX_LOSS_PCT} %`,
    fanRows,
  );
  for (const l of ladders.filter((l) => l.senders > 1)) {
    const sum = (senders: number) => summarize('chatd', l.members, fanRows.filter((r) => r.members === l.members && r.senders === senders));
    const [one, many] = [sum(1), sum(l.senders)];
    for (const [rule, pick] of [
      [SUSTAINED_RULE, (s: CompareSummary) => s.bestTight],
      ['the same, any p99', (s: CompareSummary) => s.best],
    ] as const) {
      const r = maxRatio(many, one, pick, l.rates[l.rates.length - 1]);
      const figures = `${fmt(pick(many)?.deliveriesPerS)} / ${fmt(pick(one)?.deliveriesPerS)}`;
      notes.push(targetLine(`${l.members} members, max sustained deliveries/s (${rule}), ${l.senders} senders / 1 (${figures})`, r.value, SENDERS_TARGET, true, 'x', r.bound));
    }
  }
  printNotes();
  print();
}

/**
 * The 100-member, 1-sender fan-out against a chatd whose maxDatagramBytes
 * is 8 KB (config/bench.json with that one change, in a copy), and where
 * that puts chatd against ngircd's quoted figure.
 */
async function fanout8kScenario(): Promise<void> {
  if (!ladderWanted(LADDER_8K.members)) return;
  const rows: FanoutRow[] = [];
  await chatdLadder(LADDER_8K.members, 1, LADDER_8K.rates, (r) => rows.push(r), { maxDatagramBytes: DATAGRAM_8K });
  notes.push(`chatd ran with config/bench.json and maxDatagramBytes ${DATAGRAM_8K} (instead of 1,200)`);
  printFanout('6', `fan-out with ${fmt(DATAGRAM_8K)}-byte datagrams (a loopback or jumbo-frame LAN setting): 1 room, ${LADDER_8K.members} members, 1 sender, as in 1.`, rows);
  const s = summarize('chatd', LADDER_8K.members, rows);
  for (const [rule, best] of [
    [SUSTAINED_RULE, s.bestTight],
    ['the same, any p99', s.best],
  ] as const) {
    const top = best?.offered === LADDER_8K.rates[LADDER_8K.rates.length - 1];
    notes.push(
      targetLine(
        `max sustained deliveries/s (${rule}) ${best ? `${fmt(best.deliveriesPerS)}${top ? ' (the top rung: a lower bound)' : ''}` : 'none'}, ` +
          `chatd / ngircd's ~${fmt(NGIRCD_DELIVERIES_PER_S)} (ngircd's quoted figure, not measured here)`,
        (best?.deliveriesPerS ?? s.lowestOffered ?? NaN) / NGIRCD_DELIVERIES_PER_S,
        NGIRCD_TARGET,
        true,
        'x',
        best ? (top ? '>' : '') : '<',
      ),
    );
  }
  // Less sensitive to other load on the host than the ladder's max (as in the comparison's summary).
  notes.push(
    targetLine(
      `deliveries per room CPU-second at the busiest step (${fmt(s.busiest?.offered)} msg/s; what one core would deliver, batching as much): ` +
        `${fmt(perCpuSecond(s))}, chatd / ngircd's ~${fmt(NGIRCD_DELIVERIES_PER_S)}`,
      perCpuSecond(s) / NGIRCD_DELIVERIES_PER_S,
      NGIRCD_TARGET,
      true,
      'x',
    ),
  );
  printNotes();
  print();
}

async function manyScenario(): Promise<void> {
  const rows: FanoutRow[] = [];
  await withChatd((c) =>
    runManyRooms(c, { stepMs: STEP_MS, workers: WORKERS, maxLossPct: MAX_LOSS_PCT, retryContended: RETRIES_MANY }, (r) => {
      rows.push(r);
      process.stderr.write(
        `  many: ${r.rooms} rooms, ${r.offered} msg/s${r.attempt > 1 ? ' (again)' : ''}: ${fmt(r.deliveriesPerS)} deliv/s, loss ${fmt(r.lossPct, 2)} %, p99 ${fmt(r.p99Ms, 1)} ms, other CPU ${fmt(r.otherCpuPct)} %\n`,
      );
    }),
  );
  print(
    formatTable(
      `5. many rooms: ${MANY_ROOM_COUNTS.join(', ')} rooms of ${MANY_MEMBERS} members in one chatd, chatting at once: one sender per room, every room offered ` +
        `the same rate (offered = all rooms together, per room = offered / rooms) for ${STEP_MS / 1000} s per step; the room counts run the ladder interleaved; ` +
        `figures are sums over the rooms (rooms CPU s/M = CPU seconds of all room processes per million deliveries)`,
      MANY_STEP_HEADERS,
      rows.map(manyStepCells),
    ),
  );
  contendedNote(rows, 'the rooms');
  printNotes();
  print();
  print(formatTable(`5b. many rooms, aggregate: ${MANY_SUMMARY_TITLE}`, MANY_SUMMARY_HEADERS, manySummaryRows(rows)));
  for (const line of manyTargetLines(rows)) print(`   ${line}`);
  print();
}

/** Starts a baseline target (chatd's is started from the chatd running). */
function openTarget(kind: TargetKind, chatd: Chatd, room: string): Promise<FanoutTarget> {
  switch (kind) {
    case 'chatd':
      return chatdTarget(chatd, room);
    case 'relay-on':
    case 'relay-off':
      return relayTarget(kind === 'relay-on', room, serverNodeArgs);
    case 'socketio':
      return socketIoTarget(room, serverNodeArgs);
  }
}

/** One room size: every target started and joined, then the ladder interleaved over them; everything stopped after. */
async function compareLadder(members: number, rates: number[], onRow: (r: FanoutRow) => void): Promise<void> {
  await withChatd(async (chatd) => {
    const targets: FanoutTarget[] = [];
    const sessions: FanoutSession[] = [];
    try {
      for (const kind of COMPARE_TARGETS) {
        // The same room name everywhere: the events are the same size.
        const t = await openTarget(kind, chatd, `fanout-${members}`);
        targets.push(t);
        sessions.push(await FanoutSession.open([t], members, WORKERS));
        if (args.cpuProfDir) notes.push(`${members} members: the CPU profile of ${t.label} is ${args.cpuProfDir}/CPU.*.${t.serverPid}.*.cpuprofile`);
      }
      await runLadder(
        sessions,
        { members, rates, stepMs: STEP_MS, workers: WORKERS, maxLossPct: MAX_LOSS_PCT, refRate: REF_DELIVERIES_PER_S / members, retryContended: RETRIES_PER_LADDER },
        onRow,
      );
    } finally {
      for (const s of sessions) await s.close();
      for (const t of targets) await t.close();
    }
  });
}

async function compareScenario(): Promise<void> {
  const rows: FanoutRow[] = [];
  const ladders = COMPARE_LADDERS.filter((l) => ladderWanted(l.members));
  for (const l of ladders) {
    await compareLadder(l.members, l.rates, (r) => {
      rows.push(r);
      process.stderr.write(
        `  compare: ${l.members} members, ${r.target}, ${r.offered} msg/s${r.attempt > 1 ? ' (again)' : ''}: ${fmt(r.deliveriesPerS)} deliv/s, loss ${fmt(r.lossPct, 2)} %, p99 ${fmt(r.p99Ms, 1)} ms, other CPU ${fmt(r.otherCpuPct)} %\n`,
      );
    });
  }
  print(
    formatTable(
      `1c. fan-out comparison, every step: the same ladder, driver and member workers against chatd and the baselines (${STEP_MS / 1000} s per step; ` +
        `"server" = chatd's room process, the relay, the Socket.IO server; CPU as % of one core; s/M = CPU seconds per million deliveries)`,
      COMPARE_STEP_HEADERS,
      rows.map((r) => compareStepCells(r, CONTENDED_PCT)),
    ),
  );
  contendedNote(rows, 'the server under test');
  if (rows.some((r) => r.attempt > 1)) {
    notes.push(
      `try 2: the step was run once more because its first attempt did not sustain the rate while other work used over ${CONTENDED_PCT} % of a core; ` +
        `the second attempt decides whether the target stays on the ladder, and the summary takes the better of the two`,
    );
  }
  printNotes();
  print();
  const sums = ladders.flatMap((l) => COMPARE_TARGETS.map((k) => summarize(k, l.members, rows)));
  print(
    formatTable(
      `1d. fan-out comparison, summary: max sustained = the highest step with loss <= ${SUSTAINED_LOSS_PCT} % and deliveries at >= ${KEPT_UP_SHARE * 100} % ` +
        `of the offered rate (and p99 <= ${P99_LIMIT_MS} ms); ` +
        `@100k/s = the step at ${fmt(REF_DELIVERIES_PER_S)} deliveries/s offered; CPU and RSS of the server process`,
      COMPARE_SUMMARY_HEADERS,
      sums.map(compareSummaryCells),
    ),
  );
  print();
  const ratioRows: string[][] = [];
  for (const l of ladders) {
    const c = sums.find((s) => s.target === 'chatd' && s.members === l.members)!;
    for (const s of sums) if (s.members === l.members && s.target !== 'chatd') ratioRows.push(compareRatioCells(c, s));
  }
  print(
    formatTable(
      '1e. chatd / baseline: throughput above 1x = chatd delivers more; latency, CPU and RSS above 1x = chatd takes more',
      COMPARE_RATIO_HEADERS,
      ratioRows,
    ),
  );
  for (const line of targetLines(sums)) print(`   ${line}`);
  print();
}

async function joinScenario(): Promise<void> {
  const joins = await withChatd((c) => runJoinLatency(c));
  print(formatTable('2. join latency: join -> joined, sequential, each from a new socket', JOIN_HEADERS, joins.rows.map(joinCells)));
  print(`   taking a room process -> room ready (supervisor's startMs), pool warm: ${joins.forkMs.join(', ')} ms; back to back: ${joins.burstForkMs.join(', ')} ms`);
  const [existing, warm] = joins.rows;
  const met = (v: number, limit: number) => `${fmt(v, 2)} ms (target <= ${limit} ms: ${v <= limit ? 'met' : 'NOT met'})`;
  if (existing) print(`   join into an existing room, p50: ${met(existing.p50Ms, 1)}`);
  if (warm) print(`   join creating a new room with the pool warm, p50: ${met(warm.p50Ms, 5)}`);
  printNotes();
  print();
}

async function recoveryScenario(): Promise<void> {
  const rec = await withChatd((c) => runRecovery(c));
  print(
    formatTable(
      '3. recovery: SIGKILL the room process while one member says every 5 ms; time to the first msg (sent after the kill) reaching another member',
      RECOVERY_HEADERS,
      [...rec.map(recoveryCells), recoveryMedianCells(rec)],
    ),
  );
  print(`   ${targetLine('room SIGKILL -> delivering again, median ms', median(rec.map((r) => r.recoveryMs)), 200, false, ' ms')}`);
  printNotes();
  print();
}

/** 7. The floor under any Node fan-out: CPU per dgram send (bench/send-cost.ts). */
async function sendCostScenario(): Promise<void> {
  const rows = await runSendCost();
  print(formatTable('7. send cost: one Node process sending to 100 loopback sockets (receivers in another process), CPU per datagram', SEND_COST_HEADERS, rows.map(sendCostCells)));
  print('   floor = CPU µs per datagram / events per datagram: what one dgram send per datagram costs per delivery, before any server work');
  print();
}

async function memoryScenario(): Promise<void> {
  const mem = await withChatd((c) => runMemory(c));
  print(formatTable('4. memory (idle, after 1 s)', MEMORY_HEADERS, mem.map(memoryCells)));
  const idle = mem.find((r) => r.what.startsWith('idle room (1 member)'));
  const bare = mem.find((r) => r.what.startsWith('bare node'));
  if (idle) print(`   ${targetLine('idle room RSS MB', idle.rssBytes / 2 ** 20, 40, false, ' MB')}${bare ? `; a bare node process is ${fmt(bare.rssBytes / 2 ** 20, 1)} MB` : ''}`);
  printNotes();
  print();
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

/** Runs fn against n chatd nodes of one cluster on NATS at urls (config/bench.json with the cluster keys), always stopping them. */
async function withNodes<T>(n: number, urls: string[], replicas: number, fn: (nodes: Chatd[], restart: (i: number) => Promise<Chatd>) => Promise<T>, changes: Record<string, unknown> = {}): Promise<T> {
  const teardowns: Array<() => unknown> = [];
  const clusterName = `bench${process.pid}${Date.now() % 100_000}`;
  const dataDirs: string[] = [];
  const start = async (i: number) => {
    // Each node its own dataDir (config/bench.json names one for a single chatd).
    const dataDir = join(tmpdir(), `${clusterName}-node-${i}`);
    dataDirs.push(dataDir);
    const c = await startChatd(
      { teardown: (f) => teardowns.push(f) },
      { natsServers: urls, nodeName: `node-${i}`, clusterName, journalReplicas: replicas, dataDir, ...changes },
      {},
      { baseConfig: BENCH_CONFIG, nodeArgs: serverNodeArgs },
    );
    await c.waitLog((l) => l.event === 'listening', 30_000, 'listening');
    return c;
  };
  const nodes: Chatd[] = [];
  try {
    for (let i = 0; i < n; i++) nodes.push(await start(i));
    return await fn(nodes, start);
  } finally {
    for (const c of nodes) await c.stop().catch(() => {});
    for (const f of teardowns) await f();
    for (const d of dataDirs) rmSync(d, { recursive: true, force: true });
  }
}

async function withNatsServers<T>(servers: 1 | 3, fn: (urls: string[]) => Promise<T>): Promise<T> {
  const nats = await startNatsServers({ servers, jetstream: true });
  try {
    return await fn(nats.urls);
  } finally {
    await nats.stop();
  }
}

async function clusterScenario(): Promise<void> {
  const skip = natsSkipReason();
  if (skip) {
    print(`9. cluster mode: skipped (${skip})`);
    print();
    return;
  }
  // 9a: one room's fan-out, single node and cluster R1 / R3, in one run.
  const rows: FanoutRow[] = [];
  const bySetup = new Map<string, FanoutRow[]>();
  const ladder = async (setup: string, changes: Record<string, unknown>) => {
    const mine: FanoutRow[] = [];
    await chatdLadder(CLUSTER_FANOUT.members, 1, CLUSTER_FANOUT.rates, (r) => {
      mine.push(r);
      rows.push(r);
      process.stderr.write(`  cluster fan-out ${setup}: ${r.offered} msg/s: ${fmt(r.deliveriesPerS)} deliv/s, loss ${fmt(r.lossPct, 2)} %, p99 ${fmt(r.p99Ms, 1)} ms\n`);
    }, changes);
    bySetup.set(setup, mine);
  };
  await ladder('single node', {});
  await withNatsServers(1, (urls) => ladder('cluster R1', { natsServers: urls, nodeName: 'bench-1', clusterName: `benchr1${process.pid}`, journalReplicas: 1 }));
  await withNatsServers(3, (urls) => ladder('cluster R3', { natsServers: urls, nodeName: 'bench-3', clusterName: `benchr3${process.pid}`, journalReplicas: 3 }));
  const setupOf = (r: FanoutRow) => [...bySetup].find(([, rs]) => rs.includes(r))?.[0] ?? '?';
  print(
    formatTable(
      `9a. cluster fan-out: 1 room, ${CLUSTER_FANOUT.members} members, 1 sender, as in 1.; a single node (file journal), then a node whose journal is ` +
        `JetStream on 1 NATS server (R1) and on 3 (R3), each step acknowledged only once stored`,
      ['setup', ...FANOUT_HEADERS],
      rows.map((r) => [setupOf(r), ...fanoutCells(r)]),
    ),
  );
  const single = summarize('chatd', CLUSTER_FANOUT.members, bySetup.get('single node') ?? []);
  for (const [setup, target] of [
    ['cluster R1', CLUSTER_FANOUT_TARGETS.r1],
    ['cluster R3', CLUSTER_FANOUT_TARGETS.r3],
  ] as const) {
    const s = summarize('chatd', CLUSTER_FANOUT.members, bySetup.get(setup) ?? []);
    for (const [rule, pick] of [
      [SUSTAINED_RULE, (x: CompareSummary) => x.bestTight],
      ['the same, any p99', (x: CompareSummary) => x.best],
    ] as const) {
      const r = maxRatio(s, single, pick, CLUSTER_FANOUT.rates[CLUSTER_FANOUT.rates.length - 1]);
      notes.push(targetLine(`${setup} / single node, max sustained deliveries/s (${rule}): ${fmt(pick(s)?.deliveriesPerS)} / ${fmt(pick(single)?.deliveriesPerS)}`, r.value, target, true, 'x', r.bound));
    }
  }
  printNotes();
  print();

  // 9b: join through a node that does not hold the room.
  const joinRows = await withNatsServers(1, (urls) => withNodes(2, urls, 1, (nodes) => runRemoteJoin(nodes[0]!, nodes[1]!)));
  print(formatTable('9b. cluster join latency: join -> joined from a fresh socket, at the node holding the room and at another node (1 NATS server)', REMOTE_JOIN_HEADERS, joinRows.map(remoteJoinCells)));
  const extra = joinRows[1]!.p50Ms - joinRows[0]!.p50Ms;
  print(`   ${targetLine(`remote join p50 minus local join p50: ${fmt(extra, 2)} ms`, extra, REMOTE_JOIN_EXTRA_MS, false, ' ms')}`);
  print();

  // 9c: failover.
  const foRows = await withNatsServers(3, (urls) =>
    withNodes(3, urls, 3, (nodes, restart) =>
      runFailover(nodes, restart, FAILOVER_ROUNDS, (r) => process.stderr.write(`  failover round ${r.round}: ${fmt(r.resumeMs)} ms, lost ${r.lost}\n`)),
    ),
  );
  print(
    formatTable(
      `9c. failover: 3 NATS servers (R3), 3 nodes, default nodeLeaseMs; two members chat in a room, its node is SIGKILLed (supervisor and rooms): ` +
        `time until both have a say acknowledged again (they ask where after 400 ms of silence), and acknowledged says missing from the history`,
      FAILOVER_HEADERS,
      foRows.map(failoverCells),
    ),
  );
  const fo = failoverSummary(foRows);
  print(`   ${targetLine(`failover p50 ${fmt(fo.p50Ms)} ms`, fo.p50Ms, FAILOVER_P50_MS, false, ' ms')}`);
  print(`   ${targetLine(`failover max ${fmt(fo.maxMs)} ms`, fo.maxMs, FAILOVER_MAX_MS, false, ' ms')}`);
  print(`   ${targetLine(`acknowledged says lost over ${FAILOVER_ROUNDS} kills: ${fo.lost}`, fo.lost, 0, false, '')}`);
  print();

  // 9d: rooms held by one node and by three, each with maxRooms ${ROOMS_PER_NODE}.
  const capRows: RoomsPerNodeRow[] = [];
  await withChatd(async (c) => capRows.push(await runRoomsPerNode('single node', [c], ROOMS_PER_NODE)), { maxRooms: ROOMS_PER_NODE, roomCreateBurst: 1_000, roomCreateRatePerSec: 1_000 });
  await withNatsServers(1, (urls) =>
    withNodes(3, urls, 1, async (nodes) => void capRows.push(await runRoomsPerNode('3 nodes, 1 NATS server', nodes, ROOMS_PER_NODE)), { maxRooms: ROOMS_PER_NODE, roomCreateBurst: 1_000, roomCreateRatePerSec: 1_000 }),
  );
  print(formatTable(`9d. rooms held: joins creating rooms, spread over the nodes' control endpoints, until every node refuses (maxRooms ${ROOMS_PER_NODE} each)`, ROOMS_PER_NODE_HEADERS, capRows.map(roomsPerNodeCells)));
  const ratio = (capRows[1]?.rooms ?? 0) / (capRows[0]?.rooms ?? 1);
  print(`   ${targetLine(`rooms held by 3 nodes / by 1 node: ${capRows[1]?.rooms} / ${capRows[0]?.rooms}`, ratio, 3, true, 'x')}`);
  print();
}
