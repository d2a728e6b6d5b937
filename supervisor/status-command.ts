// `chatd status`: asks a running chatd's admin listener for /status and
// prints it for a person (or, with --json, as it came, for a script). Its
// exit codes are its own (STATUS_EXIT), so a script can tell "not running"
// from "not allowed" from "answered nonsense" without reading the text.
import type { AdminStatus, StatusRoom } from '../lib/admin-status.js';
import { request } from 'node:http';
import { isIP } from 'node:net';
import { parseArgs } from 'node:util';
import { ConfigError, DEFAULTS, loadConfigFile } from '../lib/config.js';

export const STATUS_EXIT = {
  ok: 0,
  usage: 1,
  notRunning: 2,
  adminOff: 3,
  unauthorized: 4,
  badAnswer: 5,
} as const;

export const STATUS_EXIT_MEANINGS: ReadonlyArray<readonly [number, string]> = [
  [STATUS_EXIT.ok, 'chatd answered; its status is printed'],
  [STATUS_EXIT.usage, 'bad usage or config'],
  [STATUS_EXIT.notRunning, 'chatd is not running there (connection refused, or the address unreachable)'],
  [STATUS_EXIT.adminOff, 'the admin listener is off in the config (adminHost is empty)'],
  [STATUS_EXIT.unauthorized, 'the admin listener refused the token (401/403)'],
  [STATUS_EXIT.badAnswer, 'a bad answer (not HTTP 200, not a status document) or no answer in time'],
];

const DEFAULT_TIMEOUT_MS = 5_000;
/** A status document of thousands of rooms is well under this; more is not chatd talking. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;
/** Recent events printed; the rest are counted. */
const RECENT_SHOWN = 20;

export const STATUS_USAGE = `Usage: chatd status [--config FILE] [--admin HOST:PORT] [--token TOKEN] [--json] [--timeout MS]

Asks a running chatd's admin listener (GET /status) how it is doing and
prints the service, its totals, its rooms (busiest first), recent restarts
and evictions, and the cluster's nodes.

Options:
  -c, --config FILE      read adminHost, adminPort and adminToken from chatd's config
  -a, --admin HOST:PORT  the admin listener (default: the config's, else 127.0.0.1:7448);
                         IPv6 as [::1]:7448
  -t, --token TOKEN      the admin token (default: the config's adminToken)
      --json             print the /status document as received (for scripts)
      --timeout MS       give up after MS milliseconds (default ${DEFAULT_TIMEOUT_MS})
  -h, --help             show this help

Flags win over the config. Exit codes:
${STATUS_EXIT_MEANINGS.map(([code, meaning]) => `  ${code}  ${meaning}`).join('\n')}`;

/** The /status document (declared once in lib/admin-status.ts) and one room of it. */
export type StatusReport = AdminStatus;
export type RoomStatus = StatusRoom;

class StatusFailure extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}

interface Target {
  host: string;
  port: number;
  token: string;
  json: boolean;
  timeoutMs: number;
}

/** Runs the subcommand (args after `status`); resolves with the exit code. */
export async function statusCommand(args: string[], out: NodeJS.WritableStream = process.stdout, err: NodeJS.WritableStream = process.stderr): Promise<number> {
  try {
    const target = parseTarget(args);
    if (target === 'help') {
      out.write(STATUS_USAGE + '\n');
      return STATUS_EXIT.ok;
    }
    const body = await getStatus(target);
    const report = parseReport(body, target);
    out.write(target.json ? (body.endsWith('\n') ? body : body + '\n') : formatStatus(report));
    return STATUS_EXIT.ok;
  } catch (e) {
    if (!(e instanceof StatusFailure)) throw e;
    err.write(`chatd status: ${e.message}\n`);
    return e.code;
  }
}

function usage(msg: string): StatusFailure {
  return new StatusFailure(STATUS_EXIT.usage, `${msg}\n\n${STATUS_USAGE}`);
}

function parseTarget(args: string[]): Target | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args,
      options: {
        config: { type: 'string', short: 'c' },
        admin: { type: 'string', short: 'a' },
        token: { type: 'string', short: 't' },
        json: { type: 'boolean' },
        timeout: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
      },
      strict: true,
      allowPositionals: false,
    }));
  } catch (e) {
    throw usage((e as Error).message);
  }
  if (values.help) return 'help';
  let timeoutMs = DEFAULT_TIMEOUT_MS;
  if (values.timeout !== undefined) {
    if (!/^\d+$/.test(values.timeout) || Number(values.timeout) < 1) throw usage(`--timeout must be a positive integer (milliseconds), got "${values.timeout}"`);
    timeoutMs = Number(values.timeout);
  }
  let host: string = DEFAULTS.adminHost;
  let port: number = DEFAULTS.adminPort;
  let token: string = DEFAULTS.adminToken;
  if (values.config !== undefined) {
    let c;
    try {
      c = loadConfigFile(values.config);
    } catch (e) {
      if (e instanceof ConfigError) throw new StatusFailure(STATUS_EXIT.usage, e.message);
      throw e;
    }
    ({ adminHost: host, adminPort: port, adminToken: token } = c);
    if (values.admin === undefined && host === '') {
      throw new StatusFailure(STATUS_EXIT.adminOff, `the admin listener is off in ${values.config} ("adminHost" is empty): set "adminHost" (e.g. "127.0.0.1") and restart chatd, or pass --admin HOST:PORT`);
    }
    if (values.admin === undefined && port === 0) {
      // chatd picked a port at start; only its log knows which.
      throw usage(`${values.config} has "adminPort" 0 (any free port): pass --admin HOST:PORT with the port from chatd's "listening" log line`);
    }
  }
  if (values.admin !== undefined) {
    const a = parseHostPort(values.admin);
    if (!a) throw usage(`--admin must be HOST:PORT (IPv6 as [::1]:7448), got "${values.admin}"`);
    ({ host, port } = a);
  }
  if (values.token !== undefined) token = values.token;
  // A listener on every address is reached on loopback.
  if (host === '0.0.0.0') host = '127.0.0.1';
  if (host === '::') host = '::1';
  return { host, port, token, json: values.json === true, timeoutMs };
}

function parseHostPort(s: string): { host: string; port: number } | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(s);
  if (!m) return undefined;
  const host = m[1] ?? m[2]!;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return undefined;
  if (m[1] !== undefined && isIP(host) !== 6) return undefined;
  return { host, port };
}

function where(t: Target): string {
  return isIP(t.host) === 6 ? `[${t.host}]:${t.port}` : `${t.host}:${t.port}`;
}

function getStatus(t: Target): Promise<string> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (t.token !== '') headers['authorization'] = `Bearer ${t.token}`;
    const req = request({ host: t.host, port: t.port, path: '/status', method: 'GET', headers, agent: false });
    // One deadline for the whole exchange: a listener that accepts and then
    // trickles (or says nothing) is as useless as one that never answers.
    const timer = setTimeout(() => req.destroy(new StatusFailure(STATUS_EXIT.badAnswer, `no answer from ${where(t)} within ${t.timeoutMs} ms`)), t.timeoutMs);
    const fail = (e: Error) => {
      clearTimeout(timer);
      reject(e instanceof StatusFailure ? e : connectFailure(e as NodeJS.ErrnoException, t));
    };
    req.on('error', fail);
    req.on('response', (res) => {
      res.on('error', fail);
      const status = res.statusCode ?? 0;
      if (status === 401 || status === 403) {
        res.resume();
        clearTimeout(timer);
        const why = t.token === '' ? 'the admin listener wants a token: --token or adminToken in the config' : `the admin listener refused the token (HTTP ${status}): check --token or adminToken in the config`;
        reject(new StatusFailure(STATUS_EXIT.unauthorized, why));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      res.on('data', (c: Buffer) => {
        size += c.length;
        if (size > MAX_BODY_BYTES) req.destroy(new StatusFailure(STATUS_EXIT.badAnswer, `${where(t)} sent more than ${MAX_BODY_BYTES} bytes: not a chatd status`));
        else chunks.push(c);
      });
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks).toString('utf8');
        if (status !== 200) {
          const first = body.split('\n')[0]!.slice(0, 200);
          reject(new StatusFailure(STATUS_EXIT.badAnswer, `${where(t)} answered HTTP ${status}${first ? `: ${clean(first)}` : ''}`));
        } else {
          resolve(body);
        }
      });
    });
    req.end();
  });
}

function connectFailure(e: NodeJS.ErrnoException, t: Target): StatusFailure {
  switch (e.code) {
    case 'ECONNREFUSED':
      return new StatusFailure(STATUS_EXIT.notRunning, `chatd is not running at ${where(t)} (connection refused)`);
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return new StatusFailure(STATUS_EXIT.notRunning, `cannot reach chatd at ${where(t)} (${e.code}: ${e.message})`);
    default:
      // Reset or closed mid-answer: something is there, but it did not answer.
      return new StatusFailure(STATUS_EXIT.badAnswer, `no usable answer from ${where(t)} (${e.code ?? e.message})`);
  }
}

function parseReport(body: string, t: Target): StatusReport {
  let v: unknown;
  try {
    v = JSON.parse(body);
  } catch (e) {
    throw new StatusFailure(STATUS_EXIT.badAnswer, `${where(t)} answered with something that is not JSON (${(e as Error).message}): is that chatd's admin listener?`);
  }
  const problem = shapeProblem(v);
  if (problem) throw new StatusFailure(STATUS_EXIT.badAnswer, `${where(t)} answered JSON that is not a chatd status (${problem})`);
  return v as StatusReport;
}

/** Only what the table reads is checked: a newer chatd may add fields. */
function shapeProblem(v: unknown): string | undefined {
  const isObj = (x: unknown): x is Record<string, unknown> => typeof x === 'object' && x !== null && !Array.isArray(x);
  if (!isObj(v)) return 'not an object';
  for (const k of ['version', 'startedAt', 'configDigest', 'state']) if (typeof v[k] !== 'string') return `"${k}" is not a string`;
  if (typeof v['uptimeMs'] !== 'number') return '"uptimeMs" is not a number';
  if (!isObj(v['control'])) return '"control" is not an object';
  const totals = v['totals'];
  if (!isObj(totals)) return '"totals" is not an object';
  for (const k of ['rooms', 'members', 'messagesPerSec', 'deliveriesPerSec', 'restarts', 'evictions']) if (typeof totals[k] !== 'number') return `"totals.${k}" is not a number`;
  const rooms = v['rooms'];
  if (!Array.isArray(rooms)) return '"rooms" is not an array';
  for (const r of rooms) {
    if (!isObj(r) || typeof r['room'] !== 'string') return 'a room without a name';
    for (const k of ['port', 'members', 'seq', 'messagesPerSec', 'deliveriesPerSec', 'restarts']) if (typeof r[k] !== 'number') return `room "${r['room']}": "${k}" is not a number`;
  }
  if (!Array.isArray(v['recent']) || !v['recent'].every((e) => isObj(e) && typeof e['at'] === 'string' && typeof e['event'] === 'string')) return '"recent" is not a list of events';
  const cluster = v['cluster'];
  if (cluster !== null && (!isObj(cluster) || !Array.isArray(cluster['nodes']))) return '"cluster" is neither null nor an object with nodes';
  return undefined;
}

/** Busiest first: messages/s, then members, then the name (so equal rooms keep one order). */
export function byActivity(a: RoomStatus, b: RoomStatus): number {
  return b.messagesPerSec - a.messagesPerSec || b.members - a.members || (a.room < b.room ? -1 : a.room > b.room ? 1 : 0);
}

/** Strings from the wire go to a terminal: no control characters (escape sequences) get through. */
function clean(s: unknown): string {
  // eslint-disable-next-line no-control-regex
  return String(s).replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

export function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  const d = Math.floor(s / 86_400);
  const h = Math.floor((s % 86_400) / 3_600);
  const m = Math.floor((s % 3_600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  if (d > 0) return `${d}d ${pad(h)}h`;
  if (h > 0) return `${h}h ${pad(m)}m`;
  if (m > 0) return `${m}m ${pad(s % 60)}s`;
  return `${s}s`;
}

export function formatBytes(n: number | null): string {
  if (n === null) return '-';
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 ** 2).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}

const rate = (n: number) => n.toFixed(1);

/** Columns padded to their widest cell; numbers right-aligned. */
function table(head: string[], rows: string[][], right: boolean[]): string {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (right[i] ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return [line(head), ...rows.map(line)].join('\n') + '\n';
}

export function formatStatus(s: StatusReport): string {
  const out: string[] = [];
  const node = s.node ? ` on ${clean(s.node)}` : '';
  out.push(`chatd ${clean(s.version)}${node}, pid ${s.pid}: ${clean(s.state)}, up ${formatUptime(s.uptimeMs)} (since ${clean(s.startedAt)}), config ${clean(s.configDigest)}\n`);
  const addrs = s.control.addresses?.length ? ` (${s.control.addresses.map(clean).join(', ')})` : '';
  out.push(`control ${clean(s.control.host)}:${s.control.port}/udp${addrs}\n`);
  const t = s.totals;
  out.push(`rooms ${t.rooms}, members ${t.members}, ${rate(t.messagesPerSec)} msgs/s, ${rate(t.deliveriesPerSec)} deliveries/s, restarts ${t.restarts}, evictions ${t.evictions}\n`);

  out.push('\n');
  if (s.rooms.length === 0) {
    out.push('no rooms\n');
  } else {
    const rooms = [...s.rooms].sort(byActivity);
    out.push(
      table(
        ['ROOM', 'STATE', 'MEMBERS', 'MSGS/S', 'DELIV/S', 'SEQ', 'RESTARTS', 'PORT', 'PID', 'MEMORY'],
        rooms.map((r) => [clean(r.room), clean(r.state), String(r.members), rate(r.messagesPerSec), rate(r.deliveriesPerSec), String(r.seq), String(r.restarts), String(r.port), r.pid === null ? '-' : String(r.pid), formatBytes(r.rssBytes)]),
        [false, false, true, true, true, true, true, true, true, true],
      ),
    );
  }

  if (s.recent.length > 0) {
    const recent = [...s.recent].sort((a, b) => (a.at < b.at ? 1 : a.at > b.at ? -1 : 0));
    out.push('\nrecent (newest first)\n');
    out.push(
      table(
        ['AT', 'EVENT', 'ROOM', 'DETAIL'],
        recent.slice(0, RECENT_SHOWN).map((e) => [clean(e.at), clean(e.event), clean(e.room), clean(e.detail)]),
        [false, false, false, false],
      ),
    );
    if (recent.length > RECENT_SHOWN) out.push(`... and ${recent.length - RECENT_SHOWN} earlier\n`);
  }

  if (s.cluster) {
    out.push(`\ncluster: ${s.cluster.nodes.length} nodes, ${s.cluster.rooms} rooms\n`);
    const nodes = [...s.cluster.nodes].sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
    out.push(
      table(
        ['NODE', 'CONTROL', ''],
        nodes.map((n) => [clean(n.node), `${clean(n.host)}:${n.port}`, n.self ? '(this node)' : '']),
        [false, false, false],
      ),
    );
  }
  return out.join('');
}
