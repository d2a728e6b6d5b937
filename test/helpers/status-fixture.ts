// /status documents for the tests of `chatd status` and the status page,
// in the shape the admin listener serves, and a stand-in admin HTTP server
// that answers them (optionally wanting a bearer token), so both can be
// tested without a running chatd.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { RoomStatus, StatusReport } from '../../supervisor/status-command.js';

interface Teardown {
  teardown(fn: () => unknown): void;
}

export function room(name: string, over: Partial<RoomStatus> = {}): RoomStatus {
  return {
    room: name,
    state: 'running',
    port: 40_000,
    pid: 10_000,
    members: 0,
    seq: 0,
    messagesPerSec: 0,
    deliveriesPerSec: 0,
    restarts: 0,
    incarnation: 1,
    rssBytes: 50 * 1024 * 1024,
    cpuSeconds: 1.5,
    ...over,
  };
}

/**
 * A service with rooms whose order by activity differs from both their
 * order here and their names' order: "quiet" and "idle-b"/"idle-a" tie on
 * messages/s and are told apart by members, then by name.
 */
export function statusFixture(over: Partial<StatusReport> = {}): StatusReport {
  return {
    version: '0.1.0',
    node: 'node-1',
    pid: 4242,
    startedAt: '2025-01-02T03:04:05.000Z',
    uptimeMs: 2 * 3_600_000 + 3 * 60_000 + 7_000,
    configDigest: 'sha256:3f2a9c1b',
    state: 'running',
    control: { host: '0.0.0.0', port: 7447, addresses: ['127.0.0.1', '192.0.2.10'] },
    totals: { rooms: 5, members: 47, messagesPerSec: 13.5, deliveriesPerSec: 402.5, restarts: 3, evictions: 2 },
    rooms: [
      room('idle-b', { port: 40_005, pid: 10_005, members: 2, seq: 7 }),
      room('quiet', { port: 40_002, pid: 10_002, members: 9, seq: 120, messagesPerSec: 0.5, deliveriesPerSec: 4.5 }),
      room('lobby', { port: 40_001, pid: 10_001, members: 30, seq: 98_765, messagesPerSec: 12, deliveriesPerSec: 360, restarts: 2, incarnation: 3, rssBytes: 61_341_696 }),
      room('idle-a', { port: 40_004, pid: null, state: 'restarting', members: 2, seq: 3, restarts: 1, incarnation: 2, rssBytes: null, cpuSeconds: null }),
      room('dev', { port: 40_003, pid: 10_003, members: 4, seq: 555, messagesPerSec: 1, deliveriesPerSec: 38 }),
    ],
    recent: [
      { at: '2025-01-02T05:00:01.000Z', event: 'room_restarted', room: 'lobby', detail: 'exit code 70, restart 2 in the window, after 40 ms' },
      { at: '2025-01-02T05:06:00.000Z', event: 'member_evicted', room: 'quiet', detail: 'bob: no heartbeat for 15000 ms' },
      { at: '2025-01-02T05:07:30.000Z', event: 'room_gave_up', room: 'old', detail: '6 restarts within 10000 ms' },
    ],
    cluster: {
      nodes: [
        { node: 'node-2', host: '127.0.0.2', port: 7447, self: false },
        { node: 'node-1', host: '127.0.0.1', port: 7447, self: true },
      ],
      rooms: 11,
    },
    ...over,
  };
}

export type Answer = (req: IncomingMessage, res: ServerResponse) => void;

export interface FakeAdmin {
  /** http://127.0.0.1:PORT */
  base: string;
  port: number;
  /** Authorization headers of the /status requests, in order. */
  auths: (string | undefined)[];
}

/**
 * An HTTP server on 127.0.0.1, any free port, closed at teardown: `/status`
 * is answered by `answer` (after the token check, when `token` is set),
 * other paths by `routes`, else 404.
 */
export async function fakeAdmin(t: Teardown, answer: Answer, opts: { token?: string; routes?: Record<string, Answer> } = {}): Promise<FakeAdmin> {
  const auths: (string | undefined)[] = [];
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0]!;
    if (path === '/status') {
      auths.push(req.headers.authorization);
      if (opts.token !== undefined && req.headers.authorization !== `Bearer ${opts.token}`) {
        res.writeHead(401, { 'www-authenticate': 'Bearer', 'content-type': 'text/plain' }).end('unauthorized\n');
        return;
      }
      answer(req, res);
      return;
    }
    const route = opts.routes?.[path];
    if (route) route(req, res);
    else res.writeHead(404).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    // A test that stalls an answer must not hold the close up.
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  const port = (server.address() as AddressInfo).port;
  return { base: `http://127.0.0.1:${port}`, port, auths };
}

export const json =
  (doc: () => unknown): Answer =>
  (_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(JSON.stringify(doc()));
  };
