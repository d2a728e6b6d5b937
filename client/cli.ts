#!/usr/bin/env node
// `chat`: the command-line client. Parses the command line (client/cli-args.ts)
// and runs one of its forms; the exit code is the form's result (EXIT).
import { createInterface } from 'node:readline';
import { VERSION } from '../lib/version.js';
import { EXIT, HELP, parseCli } from './cli-args.js';
import { runInteractive } from './cli-interactive.js';
import { runSend, runTail, type Io } from './cli-oneshot.js';

const io: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
};

async function* stdinLines(): AsyncIterable<string> {
  for await (const line of createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY })) yield line;
}

/** SIGINT/SIGTERM call fn once; a second signal exits at once. */
function onSignals(fn: () => void): void {
  let seen = false;
  const handler = () => {
    if (seen) process.exit(EXIT.FAILED);
    seen = true;
    fn();
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

async function main(argv: string[]): Promise<number> {
  const parsed = parseCli(argv);
  switch (parsed.kind) {
    case 'help':
      process.stdout.write(HELP[parsed.mode]);
      return EXIT.OK;
    case 'version':
      process.stdout.write(`chat ${VERSION}\n`);
      return EXIT.OK;
    case 'usage':
      io.err(`chat: ${parsed.error}`);
      io.err(`Try \`chat${parsed.mode === 'interactive' ? '' : ` ${parsed.mode}`} --help\`.`);
      return EXIT.USAGE;
    case 'run': {
      const a = parsed.args;
      switch (a.mode) {
        case 'send': {
          if (a.text !== '') return runSend(a, io);
          // Nothing to read from a terminal: that is a missing argument, not a wait.
          if (process.stdin.isTTY === true) {
            io.err('chat: nothing to send: give the TEXT, or pipe lines to standard input');
            io.err('Try `chat send --help`.');
            return EXIT.USAGE;
          }
          // Destroyed after: a deadline or a refusal may come while a line is still awaited.
          return runSend(a, io, stdinLines()).finally(() => process.stdin.destroy());
        }
        case 'tail':
          return runTail(a, io, onSignals);
        case 'interactive': {
          const isTTY = process.stdin.isTTY === true && process.stdout.isTTY === true;
          return runInteractive(a, { input: process.stdin, output: process.stdout, isTTY, onSignal: onSignals });
        }
      }
    }
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    io.err(`chat: ${err instanceof Error ? err.message : String(err)}`);
    process.exitCode = EXIT.FAILED;
  },
);
