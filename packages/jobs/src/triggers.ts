import type { SourceChange } from './define-sync-job-type.js';
import { buildJobRecord } from './enqueue.js';
import type { JobRef, NewJobRecord } from './job.js';
import { effectiveSettings, type JobTypeRegistry } from './job-type-registry.js';
import type { SettingsOverrides } from './settings.js';

/** A change to a row, and who wrote it when a job did (its own type is not enqueued again for that row). */
export interface TriggeringChange extends SourceChange {
  readonly writtenBy?: {
    readonly jobId: string;
    readonly jobType: string;
    /** The writing job's source row: its type is not enqueued again for that row. */
    readonly source?: JobRef | null;
  } | null;
}

/** Everything {@link planTriggeredJobs} needs. */
export interface PlanTriggersInput {
  readonly tenantId: string;
  readonly types: JobTypeRegistry;
  /** The owner's settings of the tenant's types, by name. */
  readonly settings: ReadonlyMap<string, SettingsOverrides>;
  readonly changes: readonly TriggeringChange[];
  readonly now: number;
}

/**
 * The jobs that a set of changes enqueue by themselves: for every change, each type that names the table
 * and the event, is not disabled, and whose `planTrigger` agrees. The caller inserts them in the same
 * transaction as the changes, so no change is missed and a retried push (which writes nothing) enqueues
 * nothing twice.
 */
export function planTriggeredJobs(input: PlanTriggersInput): NewJobRecord[] {
  const jobs: NewJobRecord[] = [];
  for (const change of input.changes) {
    for (const type of input.types.triggeredBy(change.table)) {
      if (!type.triggers.includes(change.event)) continue;
      // A job that writes its own source row must not enqueue its type again for that row: that loop never
      // ends. Other rows it writes enqueue its type like any change (a chain along a tree ends by itself).
      if (isOwnLoop(change, type.name)) continue;
      const typeSettings = effectiveSettings(type, input.settings.get(type.name));
      if (typeSettings.disabled) continue;
      const plans = type.planTrigger ? type.planTrigger(change) : true;
      const list = plans === true ? [{}] : plans === false ? [] : plans;
      for (const plan of list) {
        jobs.push(
          buildJobRecord(
            { tenantId: input.tenantId, type, typeSettings, now: input.now },
            {
              type: type.name,
              source: { table: change.table, id: change.id },
              ...(plan.context ? { context: plan.context } : {}),
              ...(plan.title ? { title: plan.title } : {}),
              trigger: {
                type: 'change',
                table: change.table,
                id: change.id,
                event: change.event,
                deviceId: change.deviceId,
                at: input.now,
              },
            },
          ),
        );
      }
    }
  }
  return jobs;
}

/** Whether a change is a job's write of its own source row, which must not enqueue its type again. */
function isOwnLoop(change: TriggeringChange, typeName: string): boolean {
  const by = change.writtenBy;
  return !!by && by.jobType === typeName && by.source?.table === change.table && by.source.id === change.id;
}
