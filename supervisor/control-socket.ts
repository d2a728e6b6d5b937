// The control endpoint's UDP socket: each datagram is checked against the
// source's flood limit, decoded and schema-checked once, then handed to its
// handler (control/); what a handler throws becomes an error reply. Replies
// to endpoints that have not proven their address are held to the reply
// budget (protocol "Anti-amplification").
import type { RemoteInfo, Socket } from 'node:dgram';
import { bindAll } from '../lib/bind-all.js';
import { decodeDatagram } from '../lib/codec.js';
import type { Config } from '../lib/config.js';
import { endpointKey, type Peer } from '../lib/endpoint.js';
import { ChatError, errorInfo, type ErrorInfo } from '../lib/errors.js';
import type { LogLimiter } from '../lib/log-limiter.js';
import type { Logger } from '../lib/logger.js';
import { fitError, ReplyBudget } from '../lib/reply-budget.js';
import { isWildcard, servedAddresses } from '../lib/served-addresses.js';
import { ControlRequest, echoableId } from '../lib/wire.js';
import { SilentDrop, type ControlLimits } from './control-limits.js';
import type { Replier } from './deps.js';

/** What a control handler needs to answer one request. */
export interface ControlContext {
  readonly from: Peer;
  /** The local address the request arrived at, when it is a specific one (the room is there too: `joined.host`). */
  readonly local: string | undefined;
  readonly endpoint: string;
  readonly budget: ReplyBudget;
  /** The request datagram's size (a forwarded request carries it to the node that answers). */
  readonly bytes: number;
  readonly reqId: string | undefined;
  /**
   * Set when another node forwarded the request (cluster mode,
   * supervisor/cluster/forwarding.ts): the reply goes back to that node,
   * which sends it from the control endpoint the client wrote to.
   */
  readonly forwarded?: Replier;
}

/** Where a handler's reply goes: the client, or the node that forwarded the request. */
export function replierOf(sup: { readonly reply: Replier }, ctx: ControlContext): Replier {
  return ctx.forwarded ?? sup.reply;
}

export interface ControlSocketOptions {
  config: Config;
  log: Logger;
  limits: ControlLimits;
  limitedLog: LogLimiter;
  /** Runs the handler of one valid request. */
  dispatch: (req: ControlRequest, ctx: ControlContext) => Promise<void> | void;
}

export class ControlSocket {
  private readonly config: Config;
  private readonly log: Logger;
  private readonly limits: ControlLimits;
  private readonly limitedLog: LogLimiter;
  private readonly dispatch: ControlSocketOptions['dispatch'];
  /** One per served address (lib/served-addresses.ts), indexed by Peer.via. */
  private sockets: Socket[] = [];
  private addresses: string[] = [];
  /** Per socket, its address when it is a specific one (`joined.host`); undefined for a wildcard socket. */
  private locals: Array<string | undefined> = [];

  constructor(o: ControlSocketOptions) {
    this.config = o.config;
    this.log = o.log;
    this.limits = o.limits;
    this.limitedLog = o.limitedLog;
    this.dispatch = o.dispatch;
  }

  /** The local addresses served, one socket each (rooms bind the same list). */
  get served(): readonly string[] {
    return this.addresses;
  }

  /** Binds the control port on every served address; resolves with the port bound. */
  async listen(): Promise<number> {
    const addresses = servedAddresses(this.config.host);
    const { sockets, port } = await bindAll(addresses, this.config.port, (sock, via) => sock.on('message', (buf, rinfo) => this.onDatagram(buf, rinfo, via)));
    for (const [via, sock] of sockets.entries()) {
      // Only now: a bind error is the caller's to report (once), not a socket error.
      sock.on('error', (err) => this.log.error({ event: 'socket_error', address: addresses[via], err }, 'control socket error'));
      sock.setRecvBufferSize(this.config.socketBufferBytes);
      sock.setSendBufferSize(this.config.socketBufferBytes);
    }
    this.sockets = sockets;
    this.addresses = addresses;
    this.locals = addresses.map((a) => (isWildcard(a) ? undefined : a));
    return port;
  }

  close(): void {
    for (const s of this.sockets) s.close();
  }

  private onDatagram(buf: Buffer, rinfo: RemoteInfo, via: number): void {
    // Port 0 cannot be answered (a forged source): drop before any work.
    if (rinfo.port === 0) return;
    if (!this.limits.control.take(rinfo.address)) {
      return this.limitedLog.warn('control_flood', { from: rinfo.address }, 'control requests over the rate: dropped');
    }
    const from: Peer = { address: rinfo.address, port: rinfo.port, via };
    const budget = new ReplyBudget(buf.length, false);
    const decoded = decodeDatagram(buf, this.config.maxDatagramBytes);
    if (!decoded.ok) return this.drop(from, budget, decoded.error, undefined);
    const v = decoded.value;
    const reqId = echoableId(v['id']);
    const parsed = ControlRequest.parse(v);
    if (!parsed.ok) return this.drop(from, budget, errorInfo(parsed.code, parsed.message), reqId);
    const ctx: ControlContext = { from, local: this.locals[via], endpoint: endpointKey(from), budget, bytes: buf.length, reqId };
    const req = parsed.value;
    const failed = (err: unknown) => {
      if (err instanceof ChatError) return this.replyError(ctx, err.toInfo());
      if (err instanceof SilentDrop) return this.limitedLog.warn(err.event, { from: ctx.endpoint }, err.message);
      this.log.error({ event: 'handler_failed', type: req.type, err }, 'control handler failed');
      this.replyError(ctx, errorInfo('INTERNAL'));
    };
    try {
      // Handlers may throw (sync) or reject (async): both become error replies.
      void this.dispatch(req, ctx)?.catch(failed);
    } catch (err) {
      failed(err);
    }
  }

  private drop(from: Peer, budget: ReplyBudget, e: ErrorInfo, reqId: string | undefined): void {
    this.limitedLog.debug('datagram_dropped', { code: e.code, reason: e.message, from: endpointKey(from) }, 'bad control datagram');
    this.sendError(from, budget, e, reqId);
  }

  private replyError(ctx: ControlContext, e: ErrorInfo): void {
    this.sendError(ctx.from, ctx.budget, e, ctx.reqId);
  }

  private sendError(to: Peer, budget: ReplyBudget, e: ErrorInfo, reqId: string | undefined): void {
    // Errors go to endpoints that have not proven their address: bounded per
    // source. Except RATE_LIMITED: a crowd behind one address must hear
    // "slow down" to back off rather than resend into silence, and the
    // control rate and the reply budget already bound what it can reflect.
    if (e.code !== 'RATE_LIMITED' && !this.limits.errorReply.take(to.address)) return;
    const encoded = fitError(budget, e, reqId);
    if (encoded) this.send(to, encoded);
  }

  /** Sends if the reply budget allows (protocol "Anti-amplification": errors that do not fit are dropped). */
  sendWithin(to: Peer, budget: ReplyBudget, encoded: Buffer): boolean {
    if (!budget.take(encoded.length)) return false;
    this.send(to, encoded);
    return true;
  }

  /** Sends to an endpoint that proved its address (or a reply the protocol exempts). */
  send(to: Peer, encoded: Buffer): void {
    try {
      this.sockets[to.via]?.send(encoded, to.port, to.address);
    } catch (err) {
      // A bad destination or a closed socket must never take the supervisor down.
      this.log.debug({ event: 'send_failed', to: endpointKey(to), err }, 'send failed');
    }
  }
}
