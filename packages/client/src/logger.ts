/**
 * Where the device's long-running parts write what happened (a failed cycle, a dropped live stream): the
 * shape of pino's methods, so an app passes its own logger with its context (`component`, `deviceId`) in
 * the fields. The library never writes to the console.
 */
export interface DeviceLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

/** A logger that drops everything: the default. */
export const silentLogger: DeviceLogger = Object.freeze({
  info: () => {},
  warn: () => {},
  error: () => {},
});
