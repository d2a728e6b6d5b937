// The one error catalogue. Codes are the wire contract (protocol-v1 "Error
// codes"); errors cross process boundaries as plain {code, message} objects.

// The messages here are deliberately short: when a detailed error would not
// fit the reply budget of an unproven endpoint (protocol "Anti-amplification"),
// this one is sent instead.
export const ERROR_CODES = {
  BAD_REQUEST: 'bad request',
  TOO_LARGE: 'too large',
  BAD_ROOM_NAME: 'bad room name',
  BAD_NICK: 'bad nick',
  NICK_TAKEN: 'nick taken',
  BAD_KEY: 'wrong room key',
  ALREADY_JOINED: 'already joined',
  ROOM_FULL: 'room full',
  TOO_MANY_ROOMS: 'too many rooms',
  NOT_MEMBER: 'not a member',
  RATE_LIMITED: 'slow down',
  ROOM_UNAVAILABLE: 'room unavailable',
  SHUTTING_DOWN: 'shutting down',
  INTERNAL: 'internal error',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface ErrorInfo {
  readonly code: ErrorCode;
  readonly message: string;
}

export function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && Object.hasOwn(ERROR_CODES, v);
}

/** An expected, reportable failure: its code goes on the wire. */
export class ChatError extends Error implements ErrorInfo {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string = ERROR_CODES[code]) {
    super(message);
    this.name = 'ChatError';
    this.code = code;
  }
  toInfo(): ErrorInfo {
    return { code: this.code, message: this.message };
  }
}

export function errorInfo(code: ErrorCode, message: string = ERROR_CODES[code]): ErrorInfo {
  return { code, message };
}

/** Turns anything thrown into {code, message}; unknown throws are INTERNAL. */
export function toErrorInfo(err: unknown): ErrorInfo {
  if (err instanceof ChatError) return err.toInfo();
  return errorInfo('INTERNAL');
}
