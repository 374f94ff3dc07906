import {
  buildJobRecord,
  effectiveSettings,
  lastTick,
  scheduleOf,
  type JobLogger,
  type JobTypeRegistry,
  type SettingsOverrides,
} from '@tillsync/jobs';
import type { SqlJobStore } from './sql-job-store.js';

/** A tick older than this when first seen (the process was down at it) is let go rather than caught up. */
const MISSED_TICK_MS = 60_000;

/** What {@link fireDueSchedules} needs. */
export interface ScheduleScope {
  readonly store: SqlJobStore;
  readonly types: JobTypeRegistry;
  readonly now: number;
  readonly logger: JobLogger;
}

/**
 * Enqueues, for every tenant, each job type whose schedule (a cron expression in its settings: the type's
 * code, or the owner's edit) has a tick due in the last minute that no process has fired yet, with trigger
 * `scheduler` and the tick as `at`. Every server and worker process calls it about once a second; the
 * tick's own row in the database makes one tick one job, however many processes see it. Returns how many
 * jobs it enqueued.
 */
export async function fireDueSchedules(scope: ScheduleScope): Promise<number> {
  const { store, types, now } = scope;
  const coded = types.list().some((type) => typeof type.defaults.schedule === 'string');
  const tenants = new Set(await store.tenantsWithSchedules());
  if (coded) for (const tenantId of await store.tenantIds(100_000)) tenants.add(tenantId);
  let fired = 0;
  for (const tenantId of tenants) {
    let stored: Map<string, SettingsOverrides>;
    try {
      stored = await store.forTenant(tenantId).getTypeSettings();
    } catch (error) {
      scope.logger.warn({ err: error, tenantId }, 'could not read the schedules of job types');
      continue;
    }
    for (const type of types.list()) {
      const settings = effectiveSettings(type, stored.get(type.name));
      const schedule = scheduleOf(settings);
      if (schedule === null || settings.disabled) continue;
      const tick = lastTick(schedule, now);
      if (tick === null || tick < now - MISSED_TICK_MS) continue;
      const job = buildJobRecord(
        { tenantId, type, typeSettings: settings, now },
        {
          type: type.name,
          title: `${type.name}: schedule ${schedule} at ${new Date(tick).toISOString()}`,
          trigger: { type: 'scheduler', at: tick },
        },
      );
      try {
        if (await store.fireScheduleTick({ tenantId, name: type.name, at: tick }, job)) fired += 1;
      } catch (error) {
        scope.logger.warn({ err: error, tenantId, type: type.name }, 'a scheduled sync job was not enqueued');
      }
    }
  }
  return fired;
}
