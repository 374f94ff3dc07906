import { Type, type Static } from '@sinclair/typebox';

/** Every error code the server answers with. */
export const ERROR_CODES = [
  'INVALID_REQUEST',
  'UNAUTHORIZED',
  'TOKEN_EXPIRED',
  'TOKEN_INVALID',
  'DEVICE_REVOKED',
  'FORBIDDEN',
  'NOT_FOUND',
  'PAYLOAD_TOO_LARGE',
  'RATE_LIMITED',
  'RESYNC_REQUIRED',
  'INVALID_CREDENTIALS',
  'INVALID_CODE',
  'CONFLICT',
  'INVALID_STATUS',
  'JOB_TYPE_DISABLED',
  'INTERNAL',
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

/** Why one change of a push was rejected (PROTOCOL.md §2). */
export const REJECTION_CODES = [
  'FK_VIOLATION',
  'UNIQUE_VIOLATION',
  'UNKNOWN_TABLE',
  'UNKNOWN_COLUMN',
  'INVALID_VALUE',
  'READ_ONLY_TABLE',
  'CLOCK_SKEW',
  /**
   * A row of another store, a store that does not exist, or a device's write that would move a row to
   * another store (PROTOCOL.md §7).
   */
  'OUT_OF_SCOPE',
] as const;
export type RejectionCode = (typeof REJECTION_CODES)[number];

export const ErrorDetail = Type.Object({
  code: Type.String({ pattern: '^[A-Z][A-Z0-9_]*$' }),
  message: Type.String(),
});
export type ErrorDetail = Static<typeof ErrorDetail>;

/** The body of every error answer: `{"error": {"code", "message"}}`. */
export const ErrorBody = Type.Object({ error: ErrorDetail });
export type ErrorBody = Static<typeof ErrorBody>;

/**
 * An error that crosses the wire: the server throws it and answers its status and body; the client makes
 * one from an error answer.
 */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  readonly status: number;
  readonly code: string;

  constructor(status: number, code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.status = status;
    this.code = code;
  }

  toBody(): ErrorBody {
    return { error: { code: this.code, message: this.message } };
  }
}
