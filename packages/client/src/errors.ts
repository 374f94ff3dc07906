/**
 * The errors of the device side, one per decision a caller makes. Error answers from the server arrive as
 * the protocol's `ProtocolError` (status and code as answered); these are the device's own.
 */

/** The server could not be reached (network down, refused, timed out): try again later; nothing is lost. */
export class OfflineError extends Error {
  override readonly name = 'OfflineError';
  readonly url: string;

  constructor(url: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.url = url;
  }
}

/** Why the device's session ended. */
export type AuthErrorCode = 'SESSION_EXPIRED' | 'DEVICE_REVOKED';

/** The device's session is over (refresh refused, token invalid, device revoked): pair the device again. */
export class AuthError extends Error {
  override readonly name = 'AuthError';
  readonly code: AuthErrorCode;

  constructor(code: AuthErrorCode, options?: { cause?: unknown }) {
    super(
      code === 'DEVICE_REVOKED'
        ? 'This device was removed by the owner'
        : 'Session expired: pair this device again',
      options,
    );
    this.code = code;
  }
}

/** The device file has no credentials yet: pair it first. */
export class NotPairedError extends Error {
  override readonly name = 'NotPairedError';

  constructor(dbPath: string) {
    super(`${dbPath} is not paired with a server: run "tillsync pair" first`);
  }
}

/** Another process is running a sync cycle on the same device file. */
export class SyncBusyError extends Error {
  override readonly name = 'SyncBusyError';
  readonly pid: number;

  constructor(pid: number) {
    super(`another sync is running on this device file (process ${pid}); try again when it has finished`);
    this.pid = pid;
  }
}

/** The device file already holds another shop's data: pair a new file instead. */
export class PairingConflictError extends Error {
  override readonly name = 'PairingConflictError';
  /** The shop the file belongs to. */
  readonly tenantId: string;

  constructor(dbPath: string, tenantId: string) {
    super(`${dbPath} holds the data of another shop (tenant ${tenantId}); pair a new file instead`);
    this.tenantId = tenantId;
  }
}
