#!/usr/bin/env node
// chatd: the supervisor daemon, in the foreground.
//   chatd --config FILE [--port N] [--host H]
// Exit codes: 0 clean stop; 1 forced stop (second signal); 2 bad usage or config; 3 cannot bind.
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { ConfigError, loadConfigFile, makeConfig, type Config } from '../lib/config.js';
import { createLogger } from '../lib/logger.js';
import { VERSION } from '../lib/version.js';
import { Supervisor } from './supervisor.js';

const USAGE = `Usage: chatd --config FILE [--port N] [--host H]

Runs the chat service in the foreground, logging JSON lines to stdout
(pipe through "npx pino-pretty" to read them).

Options:
  -c, --config FILE   config file (JSON); see README "Configuration"
  -p, --port N        control UDP port (overrides the file; 0 = any free port)
  -H, --host H        address to listen on (overrides the file)
  -h, --help          show this help
  -v, --version       show the version

Signals: SIGINT/SIGTERM stop cleanly (rooms tell members "closed"); a second
signal kills the rooms and exits 1.
Exit codes: 0 stopped, 1 forced stop or fatal error, 2 bad usage or config, 3 cannot listen.`;

function fail(code: number, msg: string): never {
  process.stderr.write(`chatd: ${msg}\n`);
  process.exit(code);
}

function parse(): Config {
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
    fail(2, `${(err as Error).message}\n\n${USAGE}`);
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
    if (!/^\d+$/.test(values.port)) fail(2, `--port must be an integer, got "${values.port}"`);
    overrides['port'] = Number(values.port);
  }
  if (values.host !== undefined) overrides['host'] = values.host;
  try {
    return values.config === undefined ? makeConfig(overrides, 'command line') : loadConfigFile(values.config, overrides);
  } catch (err) {
    if (err instanceof ConfigError) fail(2, err.message);
    throw err;
  }
}

async function main(): Promise<void> {
  const config = parse();
  const dest = pino.destination(config.logDestination === 'stdout' ? { fd: 1, sync: false } : { dest: config.logDestination, sync: false, mkdir: true });
  const log = createLogger(config.logLevel, dest, { component: 'supervisor' });
  const sup = new Supervisor({ config, log, logSink: dest });

  let signals = 0;
  const onSignal = (sig: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      log.info({ event: 'signal', signal: sig }, 'stopping');
      void sup.stop().then(() => {
        dest.flushSync();
        process.exit(0);
      });
    } else {
      log.warn({ event: 'signal', signal: sig }, 'second signal: forcing exit');
      sup.kill();
      dest.flushSync();
      process.exit(1);
    }
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);

  try {
    await sup.start();
  } catch (err) {
    log.fatal({ event: 'listen_failed', err }, 'cannot listen');
    dest.flushSync();
    sup.kill();
    process.exit(3);
  }
}

void main();
