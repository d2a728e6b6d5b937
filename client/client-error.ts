// Errors the client library reports. Server refusals keep the server's code
// (protocol "Error codes"); failures the client detects itself have their own
// codes, listed here once.

/** Codes the client produces itself, in addition to the server's codes. */
export const CLIENT_ERROR_CODES = {
  TIMEOUT: 'no answer after every retry',
  CLOSED: 'the client or the room was closed before an answer came',
  NOT_JOINED: 'this client is not in that room',
  ALREADY_JOINED: 'this client is already in (or joining) that room',
  BAD_REPLY: 'the server sent a reply that breaks the protocol',
} as const;

export type ClientErrorCode = keyof typeof CLIENT_ERROR_CODES;

export class ClientError extends Error {
  /** A server code (BAD_KEY, NICK_TAKEN, ...) or a client code (TIMEOUT, CLOSED, ...). */
  readonly code: string;

  constructor(code: string, message?: string) {
    super(message ?? (CLIENT_ERROR_CODES as Record<string, string>)[code] ?? code);
    this.name = 'ClientError';
    this.code = code;
  }
}

export function clientError(code: ClientErrorCode, detail?: string): ClientError {
  return new ClientError(code, detail === undefined ? CLIENT_ERROR_CODES[code] : `${CLIENT_ERROR_CODES[code]}: ${detail}`);
}
