// Control requests for a room another node holds (cluster mode): the node a
// client wrote to passes the request to the holder over NATS request-reply
// and sends the holder's answer from its own control socket, so a retry,
// which goes to the same control endpoint, meets the same replay cache
// (protocol "Several nodes": a retried request goes to the same control
// endpoint). The holder runs its own handler, as if the client had written
// to it, with the reply captured instead of sent.
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import type { Peer } from '../../lib/endpoint.js';
import { ChatError, isErrorCode, type ErrorInfo } from '../../lib/errors.js';
import type { Logger } from '../../lib/logger.js';
import type { ReplyBudget } from '../../lib/reply-budget.js';
import { int, isPlainObject, obj, object, opt, str, field, type Infer } from '../../lib/schema.js';
import { ControlRequest } from '../../lib/wire.js';
import { SilentDrop } from '../control-limits.js';
import type { Replier } from '../deps.js';

/** How long the holder may take: a join into a room it must first take over included. */
const FORWARD_TIMEOUT_MS = 5_000;

const plainObject = field('an object', (v): v is Record<string, unknown> => isPlainObject(v));
const errorCode = field('an error code', isErrorCode);

/** Node -> node: one client request, with the client's endpoint and the datagram's size (the reply budget). */
export const ForwardedRequest = object({ req: plainObject, address: str(1, 64), port: int(1, 65535), bytes: int(1, 65535) });
/** Node -> node: the holder's answer: the datagram to send (base64), an error, or neither (nothing to send). */
export const ForwardedReply = object({ reply: opt(str(1, 200_000)), error: opt(obj(object({ code: errorCode, message: str(0, 1000) }))) });
export type ForwardedRequest = Infer<typeof ForwardedRequest>;

export type Outcome = { reply: Buffer } | { error: ErrorInfo } | { nothing: true };

/** What the holder's handler is given to answer a forwarded request. */
export type ForwardedHandler = (req: ControlRequest, from: Peer, bytes: number, answer: Replier) => Promise<void>;

const enc = new TextEncoder();
const dec = new TextDecoder();

export class Forwarding {
  private sub: Subscription | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly subjectOf: (node: string) => string,
    private readonly log: Logger,
  ) {}

  /** Answers forwarded requests for this node's rooms. */
  serve(node: string, handle: ForwardedHandler): void {
    this.sub = this.nc.subscribe(this.subjectOf(node), {
      callback: (err, msg) => {
        if (err) return this.log.error({ event: 'forward_subscription_failed', err }, 'forwarded requests can no longer be received');
        void answer(msg.data, handle).then((out) => msg.respond(enc.encode(JSON.stringify(out))));
      },
    });
  }

  /** Passes a request to the node holding its room; ROOM_UNAVAILABLE if that node does not answer. */
  async forward(node: string, req: ControlRequest, from: Peer, bytes: number): Promise<Outcome> {
    const payload: ForwardedRequest = { req, address: from.address, port: from.port, bytes };
    let data: Uint8Array;
    try {
      data = (await this.nc.request(this.subjectOf(node), enc.encode(JSON.stringify(payload)), { timeout: FORWARD_TIMEOUT_MS })).data;
    } catch {
      throw new ChatError('ROOM_UNAVAILABLE', 'the node holding the room does not answer: ask again');
    }
    let v: unknown;
    try {
      v = JSON.parse(dec.decode(data));
    } catch {
      throw new ChatError('INTERNAL', 'unreadable answer from another node');
    }
    const p = isPlainObject(v) ? ForwardedReply.parse(v) : undefined;
    if (!p?.ok) throw new ChatError('INTERNAL', 'malformed answer from another node');
    if (p.value.error) return { error: p.value.error };
    if (p.value.reply) return { reply: Buffer.from(p.value.reply, 'base64') };
    return { nothing: true };
  }

  close(): void {
    this.sub?.unsubscribe();
  }
}

async function answer(data: Uint8Array, handle: ForwardedHandler): Promise<Infer<typeof ForwardedReply>> {
  let v: unknown;
  try {
    v = JSON.parse(dec.decode(data));
  } catch {
    return { error: { code: 'BAD_REQUEST', message: 'unreadable forwarded request' } };
  }
  const p = isPlainObject(v) ? ForwardedRequest.parse(v) : undefined;
  if (!p?.ok) return { error: { code: 'BAD_REQUEST', message: 'malformed forwarded request' } };
  const req = ControlRequest.parse(p.value.req);
  if (!req.ok) return { error: { code: req.code, message: req.message } };
  let sent: Buffer | undefined;
  const capture: Replier = {
    send: (_to, encoded) => void (sent ??= encoded),
    sendWithin: (_to, budget: ReplyBudget, encoded) => {
      if (!budget.take(encoded.length)) return false;
      sent ??= encoded;
      return true;
    },
  };
  try {
    await handle(req.value, { address: p.value.address, port: p.value.port, via: 0 }, p.value.bytes, capture);
  } catch (err) {
    if (err instanceof ChatError) return { error: err.toInfo() };
    // Dropped unanswered (a flood, a superseded join): the client gets nothing, as from a local handler.
    if (err instanceof SilentDrop) return {};
    return { error: { code: 'INTERNAL', message: 'the node holding the room failed' } };
  }
  return sent ? { reply: sent.toString('base64') } : {};
}
