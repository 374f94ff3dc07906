/**
 * The errors of sync jobs, one per decision a caller makes:
 * - {@link SyncJobError}: a call on jobs or types was refused (unknown, wrong status, bad options); the
 *   server answers it as a 4xx.
 * - {@link JobTypeError}: a job type cannot be used (its controller is incomplete); the server refuses to start.
 * - {@link UnrecoverableJobError}: thrown by a controller, fails the job without retrying it.
 */

/** Why a call on jobs was refused. */
export type SyncJobErrorCode =
  'NOT_FOUND' | 'INVALID_STATUS' | 'INVALID_OPTIONS' | 'UNKNOWN_TYPE' | 'JOB_TYPE_DISABLED';

/** A call on jobs or job types that was refused; nothing was changed. */
export class SyncJobError extends Error {
  override readonly name = 'SyncJobError';
  readonly code: SyncJobErrorCode;
  readonly jobId: string | null;
  readonly typeName: string | null;

  constructor(
    code: SyncJobErrorCode,
    message: string,
    options: { jobId?: string; typeName?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: options.cause });
    this.code = code;
    this.jobId = options.jobId ?? null;
    this.typeName = options.typeName ?? null;
  }
}

/** A job type that cannot be registered: the message names the type and what is missing. */
export class JobTypeError extends Error {
  override readonly name = 'JobTypeError';
  readonly typeName: string | null;

  constructor(typeName: string | null, message: string) {
    super(message);
    this.typeName = typeName;
  }
}

/**
 * Thrown by a controller when trying again cannot help (a bad configuration, a row that can never be
 * mapped): the job ends `Failed` with no retry left, for the owner to look at.
 */
export class UnrecoverableJobError extends Error {
  override readonly name = 'UnrecoverableJobError';

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** A job ran past its `timeoutSec`. */
export class JobTimeoutError extends Error {
  override readonly name = 'JobTimeoutError';
  readonly timeoutSec: number;

  constructor(timeoutSec: number) {
    super(`timed out after ${timeoutSec} s`);
    this.timeoutSec = timeoutSec;
  }
}
