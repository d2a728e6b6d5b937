// The admin listener from a test's side: where it is (the `listening` log
// line names it), plain HTTP requests to it, and the Prometheus text format
// read back into samples.
import { request as httpRequest } from 'node:http';
import type { LogLine } from './chatd.js';

export interface Reply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

export interface RequestOptions {
  method?: string;
  token?: string;
  headers?: Record<string, string>;
  body?: string;
  timeoutMs?: number;
}

/** "host:port" of the admin listener, from chatd's `listening` line (undefined: it is off). */
export function adminAddress(logs: readonly LogLine[]): string | undefined {
  const l = logs.find((x) => x.event === 'listening');
  if (!l) throw new Error('no listening line yet');
  return l['admin'] as string | undefined;
}

export function get(address: string, path: string, o: RequestOptions = {}): Promise<Reply> {
  const [, host, port] = /^\[?([^\]]+)\]?:(\d+)$/.exec(address) ?? [];
  if (!host || !port) throw new Error(`not host:port: ${address}`);
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host,
        port: Number(port),
        path,
        method: o.method ?? 'GET',
        headers: { ...(o.token ? { authorization: `Bearer ${o.token}` } : {}), ...o.headers },
        // One connection per request: a test must not leave keep-alive sockets behind.
        agent: false,
        timeout: o.timeoutMs ?? 10_000,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`no answer from ${address}${path}`)));
    req.on('error', reject);
    req.end(o.body);
  });
}

export async function getJson<T>(address: string, path: string, o: RequestOptions = {}): Promise<T> {
  const r = await get(address, path, o);
  if (r.status !== 200) throw new Error(`${path}: ${r.status} ${r.body.slice(0, 300)}`);
  return JSON.parse(r.body) as T;
}

export interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** The samples of a Prometheus text exposition; throws on a line that is neither a sample, a comment nor empty. */
export function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE.exec(line);
    if (!m) throw new Error(`not a sample line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(LABEL)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: m[3] === '+Inf' ? Infinity : Number(m[3]) });
  }
  return out;
}

/** The sample of that name whose labels are exactly these (undefined if there is none). */
export function sample(samples: readonly Sample[], name: string, labels: Record<string, string> = {}): number | undefined {
  const want = Object.entries(labels);
  const hit = samples.find((s) => s.name === name && Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v));
  return hit?.value;
}

export async function scrape(address: string, token?: string): Promise<Sample[]> {
  const r = await get(address, '/metrics', token ? { token } : {});
  if (r.status !== 200) throw new Error(`/metrics: ${r.status} ${r.body.slice(0, 300)}`);
  return parseMetrics(r.body);
}

/**
 * Asks again (every 50 ms) until check returns something, or fails after
 * timeoutMs with the last answer: rooms report every statsIntervalMs, and
 * nothing tells a scraper when a report has arrived.
 */
export async function until<T>(check: () => Promise<T | undefined>, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `; last: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Until the scrape satisfies pred; resolves with that scrape. */
export function untilMetrics(address: string, pred: (s: Sample[]) => boolean, what: string, timeoutMs = 10_000, token?: string): Promise<Sample[]> {
  return until(async () => {
    const s = await scrape(address, token);
    return pred(s) ? s : undefined;
  }, timeoutMs, what);
}
