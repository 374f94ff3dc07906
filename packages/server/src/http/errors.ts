import { ProtocolError, type ErrorBody } from '@tillsync/protocol';
import { SyncJobError, type SyncJobErrorCode } from '@tillsync/jobs';
import type { FastifyError } from 'fastify';
import { RateLimitedError } from '../accounts.js';

/** A refused call on sync jobs: its status and wire code (PROTOCOL.md §6). */
const SYNC_JOB_ERRORS: Record<SyncJobErrorCode, { status: number; code: string }> = {
  NOT_FOUND: { status: 404, code: 'NOT_FOUND' },
  INVALID_STATUS: { status: 409, code: 'INVALID_STATUS' },
  INVALID_OPTIONS: { status: 400, code: 'INVALID_REQUEST' },
  UNKNOWN_TYPE: { status: 400, code: 'INVALID_REQUEST' },
  JOB_TYPE_DISABLED: { status: 409, code: 'JOB_TYPE_DISABLED' },
};

/**
 * The one place an error becomes an HTTP status and an error body (PROTOCOL.md §2). Anything a client sent
 * gets a 4xx with a code; only the server's own failures are 5xx.
 */
export function toErrorAnswer(error: unknown): {
  status: number;
  body: ErrorBody;
  internal: boolean;
  headers?: Record<string, string>;
} {
  if (error instanceof RateLimitedError) {
    return {
      status: 429,
      body: error.toBody(),
      internal: false,
      headers: { 'retry-after': String(error.retryAfterSec) },
    };
  }
  if (error instanceof ProtocolError) return { status: error.status, body: error.toBody(), internal: false };
  if (error instanceof SyncJobError) {
    const { status, code } = SYNC_JOB_ERRORS[error.code];
    return { status, body: { error: { code, message: error.message } }, internal: false };
  }
  const fastifyError = error as Partial<FastifyError>;
  if (fastifyError.validation) {
    const where = fastifyError.validationContext ?? 'request';
    return {
      status: 400,
      body: {
        error: {
          code: 'INVALID_REQUEST',
          message: `the ${where} is not of the expected shape: ${fastifyError.message ?? ''}`,
        },
      },
      internal: false,
    };
  }
  const status = typeof fastifyError.statusCode === 'number' ? fastifyError.statusCode : 500;
  if (status === 413) {
    return {
      status,
      body: {
        error: {
          code: 'PAYLOAD_TOO_LARGE',
          message: 'the request body is larger than the server accepts: send less at once',
        },
      },
      internal: false,
    };
  }
  if (status >= 400 && status < 500) {
    const code = status === 404 ? 'NOT_FOUND' : status === 429 ? 'RATE_LIMITED' : 'INVALID_REQUEST';
    return {
      status,
      body: { error: { code, message: fastifyError.message ?? 'the request is not valid' } },
      internal: false,
    };
  }
  return {
    status: 500,
    body: { error: { code: 'INTERNAL', message: 'the server failed to handle this request; try again' } },
    internal: true,
  };
}
