// The one error catalogue. Codes are the wire contract (protocol-v1 "Error
// codes"); errors cross process boundaries as plain {code, message} objects.

export const ERROR_CODES = {
  BAD_REQUEST: 'the request is not valid',
  TOO_LARGE: 'the datagram or text is too large',
  BAD_ROOM_NAME: 'room names are 1-64 characters of A-Z a-z 0-9 . _ -',
  BAD_NICK: 'nicks are 1-32 letters, marks, numbers, punctuation or symbols',
  NICK_TAKEN: 'that nick is taken in this room',
  BAD_KEY: 'wrong room key',
  ALREADY_JOINED: 'this endpoint is already in that room',
  ROOM_FULL: 'the room is full',
  TOO_MANY_ROOMS: 'too many rooms',
  NOT_MEMBER: 'not a member of this room',
  RATE_LIMITED: 'slow down',
  ROOM_UNAVAILABLE: 'the room is not available right now',
  SHUTTING_DOWN: 'the service is shutting down',
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
