// The admin listener: plain HTTP on adminHost:adminPort (loopback by
// default), for operators and their tools: /metrics (Prometheus), /status
// (JSON), /healthz, /readyz. Bounded like anything facing a network: GET
// and HEAD only, no request body, small headers, short timeouts, few
// connections; with adminToken set, every request must carry it. Replies
// never repeat what a request sent (its path, its headers).
import { STATUS_PAGE_HEADERS, STATUS_PAGE_HTML } from './status-page.js';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Logger } from '../../lib/logger.js';
import { LogLimiter } from '../../lib/log-limiter.js';
import { bearerMatches } from './auth.js';
import { AdminListenError, hostPort } from './listen-error.js';
import { AdminMetrics } from './metrics.js';
import { readiness } from './readiness.js';
import { buildStatus, type StatusDeps } from './status.js';

/** Headers of one request, in bytes (Node's default is 16 KiB). */
const MAX_HEADER_BYTES = 8 * 1024;
const MAX_URL_CHARS = 1_024;
/** Whole request (headers) and idle keep-alive limits. */
const REQUEST_TIMEOUT_MS = 5_000;
const KEEP_ALIVE_MS = 5_000;
/** Connections at once: a scraper, a status page and an operator need a handful. */
const MAX_CONNECTIONS = 32;

export type AdminDeps = StatusDeps & { readonly log: Logger };

type Route = (req: IncomingMessage, res: ServerResponse) => Promise<void> | void;

export class AdminServer {
  private readonly server: Server;
  private readonly metrics: AdminMetrics;
  private readonly limitedLog: LogLimiter;
  private readonly routes: ReadonlyMap<string, Route>;

  constructor(private readonly d: AdminDeps) {
    this.limitedLog = new LogLimiter(d.log, d.clock);
    this.metrics = new AdminMetrics({
      stats: d.stats,
      registry: d.registry,
      node: () => d.cluster?.node ?? '',
      ready: () => readiness(d).ready,
    });
    this.routes = new Map<string, Route>([
      ['/metrics', async (req, res) => send(req, res, 200, this.metrics.contentType, await this.metrics.text())],
      ['/status', (req, res) => sendJson(req, res, 200, buildStatus(d))],
      ['/healthz', (req, res) => sendJson(req, res, 200, { status: 'ok' })],
      [
        '/readyz',
        (req, res) => {
          const r = readiness(d);
          sendJson(req, res, r.ready ? 200 : 503, r.ready ? { status: 'ready' } : { status: 'not ready', reason: r.reason });
        },
      ],
    ]);
    this.server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requestTimeout: REQUEST_TIMEOUT_MS, headersTimeout: REQUEST_TIMEOUT_MS, keepAliveTimeout: KEEP_ALIVE_MS }, (req, res) =>
      void this.handle(req, res),
    );
    this.server.maxConnections = MAX_CONNECTIONS;
    this.server.on('clientError', (err: NodeJS.ErrnoException, socket) => {
      // A malformed or oversized request is answered and closed, never a crash.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : '400 Bad Request';
      if (socket.writable) socket.end(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      else socket.destroy();
    });
  }

  /** Listens on adminHost:adminPort; resolves with "host:port" as bound; AdminListenError otherwise. */
  listen(): Promise<string> {
    const { adminHost: host, adminPort: port } = this.d.config;
    return new Promise((resolve, reject) => {
      const failed = (err: NodeJS.ErrnoException) => reject(new AdminListenError(host, port, err.code, err));
      this.server.once('error', failed);
      this.server.listen(port, host, () => {
        this.server.off('error', failed);
        this.server.on('error', (err) => this.d.log.error({ event: 'admin_error', err }, 'admin listener error'));
        const a = this.server.address();
        resolve(typeof a === 'object' && a !== null ? hostPort(a.address, a.port) : hostPort(host, port));
      });
    });
  }

  /** Stops listening and ends every connection (a keep-alive scraper must not hold the exit). */
  close(): Promise<void> {
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if (req.method !== 'GET' && req.method !== 'HEAD') {
        res.setHeader('Allow', 'GET, HEAD');
        return sendText(req, res, 405, 'method not allowed: GET or HEAD\n');
      }
      // No body is read: one announced is refused, and the connection closed behind it.
      if ((req.headers['content-length'] !== undefined && req.headers['content-length'] !== '0') || req.headers['transfer-encoding'] !== undefined) {
        res.setHeader('Connection', 'close');
        return sendText(req, res, 413, 'requests carry no body\n');
      }
      if ((req.url ?? '').length > MAX_URL_CHARS) return sendText(req, res, 414, 'URL too long\n');
      const path = (req.url ?? '/').split('?', 1)[0]!;
      // The status page before the token check: a browser cannot send a
      // Bearer header when it opens a page, and the page holds no data (its
      // script sends the token to /status).
      if (path === '/') {
        res.writeHead(200, { ...STATUS_PAGE_HEADERS, 'content-length': Buffer.byteLength(STATUS_PAGE_HTML) });
        return void res.end(req.method === 'HEAD' ? undefined : STATUS_PAGE_HTML);
      }
      const token = this.d.config.adminToken;
      if (token !== '' && !bearerMatches(req.headers.authorization, token)) {
        this.limitedLog.warn('admin_unauthorized', { from: req.socket.remoteAddress }, 'admin request without the right token');
        res.setHeader('WWW-Authenticate', 'Bearer realm="chatd"');
        return sendText(req, res, 401, 'unauthorized: send Authorization: Bearer <adminToken>\n');
      }
      const route = this.routes.get(path);
      if (!route) return sendText(req, res, 404, `not found; try ${[...this.routes.keys()].join(', ')}\n`);
      await route(req, res);
    } catch (err) {
      this.d.log.error({ event: 'admin_request_failed', err }, 'admin request failed');
      if (!res.headersSent) sendText(req, res, 500, 'internal error\n');
      else res.destroy();
    }
  }
}

function send(req: IncomingMessage, res: ServerResponse, status: number, contentType: string, body: string): void {
  res.statusCode = status;
  res.setHeader('Content-Type', contentType);
  res.setHeader('Content-Length', Buffer.byteLength(body));
  res.setHeader('Cache-Control', 'no-store');
  res.setHeader('X-Content-Type-Options', 'nosniff');
  res.end(req.method === 'HEAD' ? undefined : body);
}

function sendJson(req: IncomingMessage, res: ServerResponse, status: number, value: unknown): void {
  send(req, res, status, 'application/json; charset=utf-8', JSON.stringify(value) + '\n');
}

function sendText(req: IncomingMessage, res: ServerResponse, status: number, text: string): void {
  send(req, res, status, 'text/plain; charset=utf-8', text);
}
