// Errors the client library reports. Server refusals keep the server's code
// (protocol "Error codes", lib/errors.ts); failures the client detects itself
// have their own codes, listed here once.
import { ERROR_CODES, isErrorCode, type ErrorCode } from '../lib/errors.js';

/** Codes the client produces itself, in addition to the server's codes. */
export const CLIENT_ERROR_CODES = {
  TIMEOUT: 'no answer after every retry',
  CLOSED: 'the client or the room was closed before an answer came',
  NOT_JOINED: 'this client is not in that room',
  BAD_REPLY: 'the server sent a reply that breaks the protocol',
  /** A newer server may add codes (protocol "Errors"): the request failed, for a reason this client cannot name. */
  REFUSED: 'the server refused with a code this client does not know',
} as const;

/** Every code a ClientError can carry: the server's catalogue and the client's own. */
export type ClientErrorCode = ErrorCode | keyof typeof CLIENT_ERROR_CODES;

const MESSAGES: Readonly<Record<ClientErrorCode, string>> = {
  ...ERROR_CODES,
  // The client refuses a second join of a room before asking the server.
  ALREADY_JOINED: 'this client is already in (or joining) that room',
  ...CLIENT_ERROR_CODES,
};

export class ClientError extends Error {
  /** A server code (BAD_KEY, NICK_TAKEN, ...) or a client code (TIMEOUT, CLOSED, ...). */
  readonly code: ClientErrorCode;

  constructor(code: ClientErrorCode, message: string = MESSAGES[code]) {
    super(message);
    this.name = 'ClientError';
    this.code = code;
  }
}

export function clientError(code: ClientErrorCode, detail?: string): ClientError {
  return new ClientError(code, detail === undefined ? MESSAGES[code] : `${MESSAGES[code]}: ${detail}`);
}

/** A server's `error` reply as a ClientError; a code this client does not know is REFUSED, naming it. */
export function serverError(code: string, message: string): ClientError {
  return isErrorCode(code) ? new ClientError(code, message) : clientError('REFUSED', `${code}: ${message}`);
}
