// The log sink against a real pipe (a FIFO holds 64 KiB): a stalled reader
// costs bounded memory and dropped, counted lines, never a blocked writer
// or a torn line; a reader that is gone ends logging, not the process.
import { execFileSync } from 'node:child_process';
import { closeSync, constants, openSync, readFileSync, readSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { LogSink, openFileSink, openStdoutSink } from '../lib/log-sink.js';
import { scratchDir } from './helpers/ops.js';

function fifo(t: Parameters<typeof scratchDir>[0]): { rfd: number; wfd: number; closeReader(): void } {
  const path = join(scratchDir(t, 'chatd-sink-'), 'pipe');
  execFileSync('mkfifo', [path]);
  const rfd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  const wfd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
  let readerOpen = true;
  const closeReader = () => {
    if (readerOpen) closeSync(rfd);
    readerOpen = false;
  };
  t.teardown(() => {
    closeReader();
    closeSync(wfd);
  });
  return { rfd, wfd, closeReader };
}

function drain(rfd: number): string {
  const buf = Buffer.alloc(65_536);
  let out = '';
  for (;;) {
    let n: number;
    try {
      n = readSync(rfd, buf, 0, buf.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EAGAIN') return out;
      throw err;
    }
    if (n === 0) return out;
    out += buf.subarray(0, n).toString();
  }
}

const line = (i: number) => JSON.stringify({ i, pad: 'x'.repeat(180) }) + '\n';

t.test('a stalled reader: writes never block, the queue is bounded, whole lines are dropped and counted, then reported', async (t) => {
  const { rfd, wfd } = fifo(t);
  const sink = new LogSink(wfd, 100_000);
  const reports: number[] = [];
  sink.onDropped = (n) => {
    reports.push(n);
    sink.write(JSON.stringify({ event: 'log_lines_dropped', count: n }) + '\n');
  };
  const t0 = performance.now();
  for (let i = 0; i < 2_000; i++) sink.write(line(i)); // ~400 KB into 64 KiB of pipe
  t.ok(performance.now() - t0 < 1_000, 'writing did not wait for the reader');
  t.ok(sink.pendingBytes <= 100_000, `queue bounded (${sink.pendingBytes} bytes)`);
  const t1 = performance.now();
  t.equal(await sink.flushWithin(200), false, 'a flush against a stalled reader gives up...');
  t.ok(performance.now() - t1 < 1_000, '...in bounded time');

  // The reader comes back: everything queued arrives, then one report.
  let got = '';
  for (let tries = 0; tries < 200 && !got.includes('log_lines_dropped'); tries++) {
    got += drain(rfd);
    await new Promise((r) => setTimeout(r, 10));
  }
  t.equal(await sink.flushWithin(1_000), true, 'drained');
  const lines = got.split('\n').filter(Boolean);
  const parsed = lines.map((l) => JSON.parse(l) as { i?: number; event?: string; count?: number }); // throws on a torn line
  const ids = parsed.filter((p) => p.i !== undefined).map((p) => p.i!);
  t.same(ids, [...ids].sort((a, b) => a - b), 'in order');
  t.equal(ids[0], 0, 'from the first line');
  t.equal(reports.length, 1, 'one report');
  t.equal(ids.length + reports[0]!, 2_000, 'every line arrived or was counted as dropped');
  t.match(parsed.at(-1), { event: 'log_lines_dropped', count: reports[0] }, 'the report comes after what was kept');
});

t.test('a reader that is gone (EPIPE): later writes are dropped, nothing throws, a flush returns at once', async (t) => {
  const { wfd, closeReader } = fifo(t);
  const sink = new LogSink(wfd);
  sink.write(line(0));
  closeReader();
  t.doesNotThrow(() => {
    for (let i = 1; i < 100; i++) sink.write(line(i));
  });
  t.equal(sink.broken?.code, 'EPIPE');
  t.equal(sink.pendingBytes, 0, 'nothing kept for a reader that will never come');
  t.equal(await sink.flushWithin(10_000), false);
});

t.test('reopen: after the file is moved away, lines go to a new file at its path (log rotation)', async (t) => {
  const dir = scratchDir(t, 'chatd-sink-');
  const path = join(dir, 'logs', 'chatd.log');
  const sink = openFileSink(path);
  t.teardown(() => closeSync(sink.fd));
  sink.write('{"n":1}\n');
  renameSync(path, `${path}.1`);
  sink.write('{"n":2}\n');
  t.equal(sink.reopen(), true);
  sink.write('{"n":3}\n');
  t.equal(readFileSync(`${path}.1`, 'utf8'), '{"n":1}\n{"n":2}\n', 'the moved file has what came before the reopen');
  t.equal(readFileSync(path, 'utf8'), '{"n":3}\n', 'the new one what came after');
  t.equal(sink.reopen(), true, 'a reopen with the file in place appends to it');
  sink.write('{"n":4}\n');
  t.equal(readFileSync(path, 'utf8'), '{"n":3}\n{"n":4}\n');
});

t.test('reopen on stdout does nothing', async (t) => {
  t.equal(openStdoutSink().reopen(), false);
});
