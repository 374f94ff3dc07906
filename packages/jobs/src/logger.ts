/**
 * The logger sync jobs write to: the shape of pino's, so the server passes its own (with `component`,
 * `tenantId` and `jobId` in the fields), and tests pass {@link silentLogger}.
 */
export interface JobLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentLogger: JobLogger = Object.freeze({
  info: () => {},
  warn: () => {},
  error: () => {},
});
