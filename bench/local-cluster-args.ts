// Command-line parsing for `npm run cluster` (bench/local-cluster.ts), free
// of I/O so that every refusal is a plain return value.
import { parseArgs } from 'node:util';
import { defaultReplicas, MAX_REPLICAS } from '../test/helpers/cluster-config.js';

export const DEFAULT_NODES = 3;
export const DEFAULT_NATS = 3;
export const DEFAULT_PORT = 7447;
/** Each node is a supervisor and a pooled room process (~50 MB each) before any room exists: more is no longer a try-out. */
export const MAX_NODES = 16;
/** One NATS server per possible journal copy. */
export const MAX_NATS = MAX_REPLICAS;

export interface LauncherArgs {
  nodes: number;
  nats: number;
  port: number;
  replicas: number;
  /** --config FILE as given (relative to where the command was typed). */
  configFile: string | undefined;
  keep: boolean;
  natsLogs: boolean;
}

export type LauncherParsed = { kind: 'run'; args: LauncherArgs } | { kind: 'help' } | { kind: 'usage'; error: string };

export const USAGE = `Usage: npm run cluster -- [--nodes N] [--nats N] [--port P] [--replicas R]
                          [--config FILE] [--nats-logs] [--keep]

Runs a chatd cluster on this machine, for trying cluster mode: N NATS
servers with JetStream, clustered on 127.0.0.1, and N chatd nodes, node i on
its own loopback address 127.0.0.i with the same control port P. Everything
lives in a scratch folder, removed at the end.

stdout: one JSON log stream of every process, each line with "node"
("node-1".., "nats-0"..); pipe it through "npx pino-pretty" to read it.
stderr: what runs where, and what went wrong.
Ctrl-C (or SIGTERM) stops the nodes, then NATS, and exits 0; a second Ctrl-C
kills everything at once.

Options:
  --nodes N       chatd nodes, 1-${MAX_NODES} (default ${DEFAULT_NODES})
  --nats N        NATS servers, 1-${MAX_NATS} (default ${DEFAULT_NATS})
  --port P        every node's control UDP port (default ${DEFAULT_PORT})
  --replicas R    journalReplicas, 1 to the number of NATS servers (default: that number, at most 3)
  --config FILE   a chatd config file for every node; the launcher sets
                  host, port, advertiseHost, adminHost (the node's
                  address), natsServers, nodeName, clusterName,
                  journalReplicas, dataDir and logDestination
  --nats-logs     every NATS log line (default: only warnings and errors)
  --keep          keep the scratch folder (configs, stores) and say where
  -h, --help      show this help

Exit codes: 0 stopped, 1 could not start (or every node exited), 2 bad usage
or nats-server missing.`;

const OPTIONS = {
  nodes: { type: 'string' },
  nats: { type: 'string' },
  port: { type: 'string' },
  replicas: { type: 'string' },
  config: { type: 'string' },
  'nats-logs': { type: 'boolean' },
  keep: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
} as const;

/** An integer option in [min, max], or the refusal naming it. */
function intOption(name: string, text: string | undefined, fallback: number, min: number, max: number): number | string {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < min || n > max) return `--${name} "${text}": give a whole number from ${min} to ${max}`;
  return n;
}

export function parseLauncherArgs(argv: readonly string[]): LauncherParsed {
  if (argv.includes('--help') || argv.includes('-h')) return { kind: 'help' };
  let values;
  let positionals;
  try {
    ({ values, positionals } = parseArgs({ args: [...argv], options: OPTIONS, allowPositionals: true, strict: true }));
  } catch (err) {
    return { kind: 'usage', error: (err as Error).message };
  }
  if (positionals.length > 0) return { kind: 'usage', error: `unexpected argument "${positionals[0]}" (every setting is an option)` };
  const nodes = intOption('nodes', values.nodes, DEFAULT_NODES, 1, MAX_NODES);
  if (typeof nodes === 'string') return { kind: 'usage', error: nodes };
  const nats = intOption('nats', values.nats, DEFAULT_NATS, 1, MAX_NATS);
  if (typeof nats === 'string') return { kind: 'usage', error: nats };
  const port = intOption('port', values.port, DEFAULT_PORT, 1, 65_535);
  if (typeof port === 'string') return { kind: 'usage', error: port };
  const replicas = intOption('replicas', values.replicas, defaultReplicas(nats), 1, nats);
  if (typeof replicas === 'string') return { kind: 'usage', error: `${replicas} (at most one copy per NATS server: --nats ${nats})` };
  if (values.config === '') return { kind: 'usage', error: '--config must name a file' };
  return {
    kind: 'run',
    args: { nodes, nats, port, replicas, configFile: values.config, keep: values.keep ?? false, natsLogs: values['nats-logs'] ?? false },
  };
}
