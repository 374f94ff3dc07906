import {
  SYNC_JOB_QUEUES,
  type SyncJobQueue,
  type SyncJobTypePatch,
  type SyncJobTypeSettings,
} from '@tillsync/protocol';
import { CronExpressionParser, type CronExpression } from 'cron-parser';
import { SyncJobError } from './errors.js';

/** The settings a job runs with: its type's, with the job's own overrides on top. */
export interface JobSettings {
  /** @defaultValue `'default'` */
  readonly queue: SyncJobQueue;
  /** Seconds it may run before it is stopped and `Failed`. @defaultValue 300 */
  readonly timeoutSec: number;
  /** Seconds a failed job waits before its retry. @defaultValue 300 */
  readonly retryDelaySec: number;
  /** How many times a failed job is queued again by itself. @defaultValue 3 */
  readonly maxRetries: number;
  /** Keep the target's before and after on every job, not only on failed ones. @defaultValue false */
  readonly verboseLogging: boolean;
}

/** A type's settings: a job's, plus `disabled` (a disabled type enqueues nothing) and its schedule. */
export interface TypeSettings extends JobSettings {
  /** @defaultValue false */
  readonly disabled: boolean;
  /**
   * A cron expression (UTC; 5 fields, or 6 with seconds first) at whose ticks the type is enqueued with
   * trigger `scheduler`; null or `""`: never. @defaultValue null
   */
  readonly schedule: string | null;
}

/** Settings given in part: by a type's code, by the owner in the database, or by one job. */
export type SettingsOverrides = { -readonly [K in keyof TypeSettings]?: TypeSettings[K] };

/** The defaults of PROTOCOL.md §6. */
export const DEFAULT_TYPE_SETTINGS: TypeSettings = Object.freeze({
  queue: 'default',
  timeoutSec: 300,
  retryDelaySec: 300,
  maxRetries: 3,
  verboseLogging: false,
  disabled: false,
  schedule: null,
});

const SETTING_NAMES = Object.keys(DEFAULT_TYPE_SETTINGS) as Array<keyof TypeSettings>;

/**
 * Lays overrides over a base, later ones winning. A value is taken whenever it is given: `0` and `false` are
 * values, never "use the default" (the reference system's `timeout or type.timeout` lost them).
 */
export function layerSettings(
  base: TypeSettings,
  ...layers: ReadonlyArray<SettingsOverrides | null | undefined>
): TypeSettings {
  const result: Record<string, unknown> = { ...base };
  for (const layer of layers) {
    if (!layer) continue;
    for (const name of SETTING_NAMES) {
      const value = layer[name];
      if (value !== undefined && value !== null) result[name] = value;
    }
  }
  return Object.freeze(result as unknown as TypeSettings);
}

/** The part of a type's settings a job keeps (`disabled` only matters when enqueueing). */
export function jobSettingsOf(settings: TypeSettings): JobSettings {
  return Object.freeze({
    queue: settings.queue,
    timeoutSec: settings.timeoutSec,
    retryDelaySec: settings.retryDelaySec,
    maxRetries: settings.maxRetries,
    verboseLogging: settings.verboseLogging,
  });
}

/** The settings as the API lists them (a schedule turned off with `""` is none). */
export function settingsInfo(settings: TypeSettings): SyncJobTypeSettings {
  return { ...settings, schedule: scheduleOf(settings) };
}

/** The type's schedule, or null when it has none. */
export function scheduleOf(settings: TypeSettings): string | null {
  return settings.schedule === null || settings.schedule.trim() === '' ? null : settings.schedule;
}

/** A cron expression read in UTC; throws the parser's message when it is not one. */
export function parseSchedule(expression: string, from: Date = new Date()): CronExpression {
  return CronExpressionParser.parse(expression, { currentDate: from, tz: 'UTC' });
}

/** The last tick of a schedule at or before `now` (milliseconds), or null when it has none. */
export function lastTick(expression: string, now: number): number | null {
  try {
    // Asked from just past now, so that a tick exactly at `now` counts.
    return parseSchedule(expression, new Date(now + 1))
      .prev()
      .getTime();
  } catch {
    return null;
  }
}

/**
 * Checks settings given by code or by a caller, and says which one is wrong and why. The HTTP API checks
 * the same rules with its schema; this covers job types and callers in code.
 */
export function checkSettings(overrides: SettingsOverrides | SyncJobTypePatch, where: string): void {
  const problem = (message: string): never => {
    throw new SyncJobError('INVALID_OPTIONS', `${where}: ${message}`);
  };
  const { queue, timeoutSec, retryDelaySec, maxRetries, verboseLogging, disabled, schedule } = overrides;
  if (schedule !== undefined && schedule !== null) {
    if (typeof schedule !== 'string')
      problem(`schedule must be a cron expression, not ${JSON.stringify(schedule)}`);
    else if (schedule.trim() !== '') {
      try {
        parseSchedule(schedule);
      } catch (error) {
        problem(
          `schedule ${JSON.stringify(schedule)} is not a cron expression (minute hour day month weekday, UTC): ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }
  }
  if (queue !== undefined && queue !== null && !(SYNC_JOB_QUEUES as readonly string[]).includes(queue))
    problem(`queue must be one of ${SYNC_JOB_QUEUES.join(', ')}, not ${JSON.stringify(queue)}`);
  if (timeoutSec !== undefined && timeoutSec !== null && !(Number.isFinite(timeoutSec) && timeoutSec > 0))
    problem(`timeoutSec must be a number of seconds above 0, not ${JSON.stringify(timeoutSec)}`);
  if (
    retryDelaySec !== undefined &&
    retryDelaySec !== null &&
    !(Number.isFinite(retryDelaySec) && retryDelaySec >= 0)
  )
    problem(`retryDelaySec must be a number of seconds, 0 or more, not ${JSON.stringify(retryDelaySec)}`);
  if (
    maxRetries !== undefined &&
    maxRetries !== null &&
    !(Number.isSafeInteger(maxRetries) && maxRetries >= 0)
  )
    problem(`maxRetries must be a whole number, 0 or more, not ${JSON.stringify(maxRetries)}`);
  for (const [name, value] of [
    ['verboseLogging', verboseLogging],
    ['disabled', disabled],
  ] as const) {
    if (value !== undefined && value !== null && typeof value !== 'boolean')
      problem(`${name} must be true or false, not ${JSON.stringify(value)}`);
  }
}
