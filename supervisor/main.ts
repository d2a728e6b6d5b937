#!/usr/bin/env node
// chatd: the supervisor daemon, in the foreground.
//   chatd --config FILE [--port N] [--host H]
//   chatd status ...   (a running chatd's /status: status-command.ts)
// Exit codes: exit-codes.ts (also in --help and the README).
import { parseArgs } from 'node:util';
import { ConfigError, loadConfigFile, makeConfig, type Config } from '../lib/config.js';
import { installFatalHandlers } from '../lib/fatal.js';
import { openLogSink, type LogSink } from '../lib/log-sink.js';
import { createLogger, type Logger } from '../lib/logger.js';
import { VERSION } from '../lib/version.js';
import { EXIT, EXIT_MEANINGS } from './exit-codes.js';
import { relaysEnded } from './log-relay.js';
import { reloadConfig, reopenLog, type ConfigSource } from './reload.js';
import { describeStartFailure } from './start-failure.js';
import { Supervisor } from './supervisor.js';
import { supervisorTitle } from '../lib/titles.js';

/** How long the last log lines get to reach a slow reader before chatd exits anyway. */
const EXIT_FLUSH_MS = 1_000;
/** The same after a second signal: the operator wants out. */
const FORCED_FLUSH_MS = 250;

const USAGE = `Usage: chatd --config FILE [--port N] [--host H]
       chatd status [--config FILE] [--admin HOST:PORT] [--token TOKEN] [--json] [--timeout MS]

Runs the chat service in the foreground, logging JSON lines to stdout
(pipe through "npx pino-pretty" to read them).

Options:
  -c, --config FILE   config file (JSON); see README "Configuration"
  -p, --port N        control UDP port (overrides the file; 0 = any free port)
  -H, --host H        address to listen on (overrides the file)
  -h, --help          show this help
  -v, --version       show the version

Signals: SIGINT/SIGTERM stop cleanly (rooms tell members "closed"), also when
sent to the whole process group (Ctrl-C); a second signal kills the rooms and
exits 1. SIGHUP reloads the config file (keys that need a restart are logged
and kept) and reopens the log file.
"chatd status" asks a running chatd how it is doing (see "chatd status --help").
dataDir is locked while chatd runs (dataDir/chatd.lock holds its pid).

Exit codes:
${EXIT_MEANINGS.map(([code, meaning]) => `  ${String(code).padStart(2)}  ${meaning}`).join('\n')}`;

function fail(code: number, msg: string): never {
  process.stderr.write(`chatd: ${msg}\n`);
  process.exit(code);
}

function parse(): { config: Config; source: ConfigSource } {
  let values;
  try {
    ({ values } = parseArgs({
      options: {
        config: { type: 'string', short: 'c' },
        port: { type: 'string', short: 'p' },
        host: { type: 'string', short: 'H' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'v' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (err) {
    fail(EXIT.usage, `${(err as Error).message}\n\n${USAGE}`);
  }
  if (values.help) {
    process.stdout.write(USAGE + '\n');
    process.exit(0);
  }
  if (values.version) {
    process.stdout.write(VERSION + '\n');
    process.exit(0);
  }
  const overrides: Record<string, unknown> = {};
  if (values.port !== undefined) {
    if (!/^\d+$/.test(values.port)) fail(EXIT.usage, `--port must be an integer, got "${values.port}"`);
    overrides['port'] = Number(values.port);
  }
  if (values.host !== undefined) overrides['host'] = values.host;
  try {
    const config = values.config === undefined ? makeConfig(overrides, 'command line') : loadConfigFile(values.config, overrides);
    return { config, source: { path: values.config, overrides } };
  } catch (err) {
    if (err instanceof ConfigError) fail(EXIT.usage, err.message);
    throw err;
  }
}

async function main(): Promise<void> {
  process.title = supervisorTitle(process.argv.slice(2));
  const { config, source } = parse();
  let sink: LogSink;
  try {
    sink = openLogSink(config.logDestination);
  } catch (err) {
    fail(EXIT.usage, `cannot open the log destination "${config.logDestination}": ${(err as Error).message}; fix "logDestination"`);
  }
  // pid: log readers (pino-pretty) show it as the process of every line.
  const log = createLogger(config.logLevel, sink, { component: 'supervisor', pid: process.pid });
  installFatalHandlers(() => log, sink);
  testFaults(log);
  const sup = new Supervisor({ config, log, logSink: sink });

  // Never a synchronous flush: a log reader that is gone or stalled must not
  // keep chatd from exiting.
  const exitAfterFlush = (code: number, flushMs: number): void => {
    void relaysEnded(flushMs)
      .then(() => sink.flushWithin(flushMs))
      .then(() => process.exit(code));
  };
  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info({ event: 'signal', signal: sig }, 'stopping');
      // Unless a second signal has meanwhile forced the exit (code 1).
      void sup.stop().then(() => signals === 1 && exitAfterFlush(EXIT.stopped, EXIT_FLUSH_MS));
    } else if (signals === 2) {
      log.warn({ event: 'signal', signal: sig }, 'second signal: forcing exit');
      sup.kill();
      exitAfterFlush(EXIT.forced, FORCED_FLUSH_MS);
    } else {
      process.exit(EXIT.forced);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', () => {
    // The log first: the reload's own lines belong in the new file.
    reopenLog(sink, log);
    reloadConfig(sup, source);
  });

  try {
    await sup.start();
  } catch (err) {
    const f = describeStartFailure(err, config);
    process.stderr.write(`chatd: ${f.line}\n`);
    log.fatal({ event: f.event, exitCode: f.exitCode, ...f.fields, ...(f.unexpected ? { err } : {}) }, f.line);
    sup.kill();
    exitAfterFlush(f.exitCode, EXIT_FLUSH_MS);
  }
}

/**
 * Test-only fault hooks of the supervisor, from CHATD_TEST_FAULT (as the
 * room's in rooms/main.ts; never reachable from the protocol or the config):
 * - `supervisor-reject-on-sigusr2`: SIGUSR2 leaves a promise rejection unhandled.
 */
function testFaults(log: Logger): void {
  const faults = (process.env['CHATD_TEST_FAULT'] ?? '').split(',');
  if (faults.includes('supervisor-reject-on-sigusr2')) {
    process.on('SIGUSR2', () => {
      log.warn({ event: 'test_fault', fault: 'supervisor-reject-on-sigusr2' }, 'test fault: an unhandled rejection');
      void Promise.reject(new Error('test fault: supervisor-reject-on-sigusr2'));
    });
  }
}

// Before the daemon's parsing, which knows no subcommands.
if (process.argv[2] === 'status') {
  void import('./status-command.js').then(async (m) => (process.exitCode = await m.statusCommand(process.argv.slice(3))));
} else {
  void main();
}
