// Over 500 lines on purpose: one job's run from claim to end (find the target, start, sync, relay, bypass,
// commit, fail) reads top to bottom here, and its parts share the run object (job-run.ts) and the store.
import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { RowValues, SyncJob, SyncJobStatus } from '@tillsync/protocol';
import type {
  BypassResult,
  RunningSyncJob,
  SyncJobType,
  TargetDocument,
  TargetInfo,
} from './define-sync-job-type.js';
import { diffValues, isEmptyDiff } from './diff.js';
import { buildJobRecord } from './enqueue.js';
import { JobTimeoutError, UnrecoverableJobError } from './errors.js';
import { lockKeyOf, newRecord, toSyncJob, type DiffSummary, type JobPatch } from './job.js';
import type { ClaimedJob, JobStore } from './job-store.js';
import type { JobTypeRegistry } from './job-type-registry.js';
import { LeaseKeeper } from './lease-keeper.js';
import { silentLogger, type JobLogger } from './logger.js';
import {
  DEFAULT_LOCK_RETRY_MS,
  jitteredRetryAt,
  systemJobScheduler,
  withClock,
  type JobScheduler,
} from './scheduler.js';
import { DEFAULT_TYPE_SETTINGS } from './settings.js';
import { RUNNABLE_STATUSES } from './status.js';
import {
  resolveTarget,
  runningJob,
  type ControlledRun,
  type Ending,
  type JobRun,
  type ResolvedTarget,
} from './job-run.js';

/** What a caller passes to {@link JobExecutor}. */
export interface JobExecutorOptions {
  readonly store: JobStore;
  readonly types: JobTypeRegistry;
  /** Names this worker in leases. @defaultValue host, process id and a random part */
  readonly workerId?: string;
  /** The clock; it overrides the scheduler's. @defaultValue the scheduler's clock */
  readonly now?: () => number;
  /** The clock and timers (timeouts, lease renewals, the queues' waits). @defaultValue the real ones */
  readonly scheduler?: JobScheduler;
  /** How long a claim lasts without renewal; a dead worker's jobs are taken over after it. @defaultValue 30,000 */
  readonly leaseMs?: number;
  /** How long a job whose target another job holds waits before it is tried again. @defaultValue 50 (plus up to as much again) */
  readonly lockRetryMs?: number;
  /** How often a job may lose its worker before it is failed for good. @defaultValue 3 */
  readonly maxRecoveries?: number;
  /** @defaultValue silent */
  readonly logger?: JobLogger;
  /** Told of every run that ended with a status committed (metrics); its errors are logged. */
  readonly onJobEnded?: (ended: EndedJob) => void;
}

/** A run that ended, as {@link JobExecutorOptions.onJobEnded} hears of it. */
export interface EndedJob {
  readonly id: string;
  readonly type: string;
  readonly status: SyncJobStatus;
  /** From the start of its run (its claim, when it never started) to its end. */
  readonly durationMs: number;
}

/** The resolved, frozen form of {@link JobExecutorOptions}. */
export interface JobExecutorConfig {
  readonly workerId: string;
  readonly now: () => number;
  /** The clock and timers, `now` included; the queues that run this executor's jobs wait on them too. */
  readonly scheduler: JobScheduler;
  readonly leaseMs: number;
  readonly lockRetryMs: number;
  readonly maxRecoveries: number;
}

/** How one run of a job went, for the queue that ran it. */
export type RunResult =
  /** It ended (or failed, maybe to be retried): its status is in the store. */
  | { readonly kind: 'ended'; readonly status: SyncJobStatus }
  /** Its target was held by another job: it is ready again at `at`. */
  | { readonly kind: 'deferred'; readonly at: number }
  /** It was canceled or taken over by another worker meanwhile: this run changed nothing. */
  | { readonly kind: 'lost' };

const noop = (): void => {};

/** A worker's claim was no longer current when it came to commit: its transaction is rolled back. */
class LostClaimError extends Error {
  override readonly name = 'LostClaimError';
}

/**
 * Runs claimed jobs: the controller of the job's type, then, in ONE transaction, the target writes and the
 * job's final status, so a job that fails leaves no half-written target. Both queue transports run jobs
 * through it; whatever delivers a job, the claim in the store makes sure it runs once.
 *
 * A run: read the source (its last state if deleted) → find the target (single, multiple, or the bypass's
 * own work) → take the target's lock (`Started`) → shape the target → flags, dry run, no changes → commit.
 * The job's `timeoutSec` bounds the whole run; past it the job ends `Failed` ("timed out after N s") and
 * whatever the controller still does is never committed.
 */
export class JobExecutor {
  readonly config: JobExecutorConfig;
  readonly #store: JobStore;
  readonly #types: JobTypeRegistry;
  readonly #logger: JobLogger;
  readonly #leases: LeaseKeeper;
  readonly #onJobEnded: ((ended: EndedJob) => void) | null;

  constructor(options: JobExecutorOptions) {
    const scheduler = options.now
      ? withClock(options.scheduler ?? systemJobScheduler, options.now)
      : (options.scheduler ?? systemJobScheduler);
    this.config = Object.freeze({
      workerId: options.workerId ?? `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      now: () => scheduler.now(),
      scheduler,
      leaseMs: options.leaseMs ?? 30_000,
      lockRetryMs: options.lockRetryMs ?? DEFAULT_LOCK_RETRY_MS,
      maxRecoveries: options.maxRecoveries ?? 3,
    });
    this.#store = options.store;
    this.#types = options.types;
    this.#logger = options.logger ?? silentLogger;
    this.#onJobEnded = options.onJobEnded ?? null;
    this.#leases = new LeaseKeeper({
      store: this.#store,
      leaseMs: this.config.leaseMs,
      scheduler,
      logger: this.#logger,
    });
  }

  /** Stops renewing leases (the queue stops first, so nothing runs). */
  stop(): void {
    this.#leases.stop();
  }

  /** When a job whose target was busy may be tried again: soon, spread so waiting jobs do not collide. */
  retryAt(): number {
    const { scheduler, lockRetryMs } = this.config;
    return jitteredRetryAt(scheduler.now(), lockRetryMs, () => scheduler.random());
  }

  /** Runs one claimed job to its end (or to a deferral, when its target is busy). Never throws. */
  async run(claimed: ClaimedJob): Promise<RunResult> {
    const { record, claim } = claimed;
    const { scheduler } = this.config;
    const abort = new AbortController();
    const run: JobRun = {
      claim,
      record,
      tenant: this.#store.forTenant(record.tenantId),
      signal: abort.signal,
      startedAt: claimed.started ? (record.startedAt ?? this.config.now()) : null,
      currentData: null,
      updatedData: null,
      operation: record.operation,
      target: record.target,
    };
    const timeoutSec = record.settings.timeoutSec;
    let timer: unknown = null;
    const timedOut = new Promise<never>((_, reject) => {
      timer = scheduler.setTimeout(() => {
        const error = new JobTimeoutError(timeoutSec);
        abort.abort(error);
        reject(error);
      }, timeoutSec * 1000);
    });
    this.#leases.add(claim);
    const began = this.config.now();
    let result: RunResult;
    const execution = this.#execute(run, claimed.started);
    try {
      result = await Promise.race([execution, timedOut]);
    } catch (error) {
      // A controller that timed out was told through its signal; its retry must never run beside it, so
      // the failure (and with it the retry) is recorded once it has stopped, or once its lease would have
      // lapsed had it died, still holding the lease and the target's lock meanwhile.
      if (error instanceof JobTimeoutError) await this.#stopped(execution);
      result = error instanceof LostClaimError ? { kind: 'lost' } : await this.#fail(run, error);
    } finally {
      scheduler.clearTimeout(timer);
      this.#leases.delete(record.id);
    }
    if (result.kind === 'ended') this.#ended(record, result.status, run.startedAt ?? began);
    return result;
  }

  /** Resolves when the run has ended, at most a lease's length from now. */
  #stopped(execution: Promise<unknown>): Promise<void> {
    const { scheduler, leaseMs } = this.config;
    let timer: unknown = null;
    const lapsed = new Promise<void>((resolve) => {
      timer = scheduler.setTimeout(resolve, leaseMs, { background: true });
    });
    return Promise.race([execution.then(noop, noop), lapsed]).finally(() => scheduler.clearTimeout(timer));
  }

  #ended(
    { id, type }: { readonly id: string; readonly type: string },
    status: SyncJobStatus,
    startedAt: number,
  ): void {
    if (!this.#onJobEnded) return;
    try {
      this.#onJobEnded({ id, type, status, durationMs: Math.max(0, this.config.now() - startedAt) });
    } catch (error) {
      this.#logger.warn({ err: error, type }, 'the onJobEnded listener failed');
    }
  }

  /** From the claim to the controller's mode; `started`: the claim took over a job already `Started`. */
  async #execute(claimedRun: JobRun, started: boolean): Promise<RunResult> {
    const { record, tenant, signal, claim } = claimedRun;
    const type = this.#types.get(record.type);
    if (!type) {
      throw new Error(
        `this worker has no job type "${record.type}": load the module that defines it (--jobs FILE)`,
      );
    }
    if (record.recoveries > this.config.maxRecoveries) {
      throw new UnrecoverableJobError(
        `the worker running it stopped ${record.recoveries} times before it ended; look at what it does before retrying it`,
      );
    }
    const source = record.source ? await tenant.readSource(record.source.table, record.source.id) : null;
    if (record.source && !source) {
      throw new Error(`its source ${record.source.table} ${record.source.id} does not exist on the server`);
    }
    const job = runningJob(record, tenant, signal, record.context);

    if (type.mode === 'bypass') {
      const run = Object.assign(claimedRun, { type, job, source });
      await type.afterStart?.(job, source);
      const result = (await type.execute(job, source)) ?? null;
      return this.#endBypass(run, result || null);
    }

    const run = Object.assign(claimedRun, { type, job, source });
    let target: ResolvedTarget;
    const given = record.target !== null;
    if (record.target) {
      target = { ...record.target, operation: record.operation ?? 'update', context: null };
    } else {
      const found =
        type.mode === 'single'
          ? [await type.getTargetDocument(job, source)].filter((info): info is TargetInfo => !!info)
          : [...(await type.getMultipleTargetDocuments(job, source))];
      const targets = found.map((info) => resolveTarget(type, info));
      if (targets.length === 0) return this.#end(run, { status: 'No Target' });
      if (targets.length > 1) return this.#relay(run, { found, targets });
      target = targets[0] as ResolvedTarget;
      if (target.context) run.job = runningJob(record, tenant, signal, target.context);
    }
    run.target = { table: target.table, id: target.id };
    run.operation = target.operation;
    if (!started) {
      const result = await this.#store.start(claim, [lockKeyOf(target)], this.config.now(), this.retryAt());
      if (result === 'lost') return { kind: 'lost' };
      if (result === 'busy') return { kind: 'deferred', at: this.retryAt() };
      run.startedAt = this.config.now();
    }
    await type.afterStart?.(run.job, source);
    return this.#sync(run, target, !given);
  }

  /** Single and multiple targets: read the target under its lock, shape it, and commit it with the status. */
  async #sync(
    run: ControlledRun<Extract<SyncJobType, { mode: 'single' | 'multiple' }>>,
    resolved: ResolvedTarget,
    foundByController: boolean,
  ): Promise<RunResult> {
    const { tenant, type, job, source } = run;
    const target = { table: resolved.table, id: resolved.id };
    // Read after the lock was taken, so no other job changes it before this one commits.
    const current = await tenant.rows.get(target.table, target.id);
    let operation = resolved.operation;
    if (operation === 'insert' && current) {
      // Ids of derived rows are often deterministic (one row per day): another job may have inserted the
      // row after this one's controller looked. Asked again now that the lock is held, the controller sees
      // it; an insert never overwrites a row (PROTOCOL.md §6).
      const again = foundByController ? await this.#askAgain(run, target) : null;
      if (!again || again === 'insert') {
        throw new UnrecoverableJobError(
          `TARGET_EXISTS: its target ${target.table} ${target.id} exists already, and an insert never overwrites a row`,
        );
      }
      operation = again;
    }
    run.operation = operation;
    if (operation === 'update' && !current) {
      throw new Error(`its target ${target.table} ${target.id} does not exist, so it cannot be updated`);
    }
    if (operation === 'delete' && !current) return this.#end(run, { status: 'No Target', operation, target });
    if (!job.isEnabled(operation)) return this.#end(run, { status: 'Skipped', operation, target });
    const document: TargetDocument = {
      ...target,
      operation,
      values: { ...(current?.values ?? {}) },
      current: current ? { ...current.values } : null,
    };
    let updated: RowValues | null = null;
    if (operation !== 'delete') {
      const returned = await type.updateTargetDoc(job, source, document);
      if (returned) Object.assign(document.values, returned);
      const { id: _id, ...values } = document.values;
      updated = values;
    }
    run.currentData = current?.values ?? null;
    run.updatedData = updated;
    const diffSummary = diffValues(current?.values ?? null, updated);
    const skipped: Ending = {
      status: 'Skipped',
      operation,
      target,
      diffSummary,
      currentData: run.currentData,
      updatedData: updated,
    };
    if (job.dryRun) return this.#end(run, skipped);
    if (operation === 'update' && isEmptyDiff(diffSummary) && !job.flags.updateWithoutChangesEnabled) {
      return this.#end(run, skipped);
    }
    await type.beforeSync?.(job, source, document);
    const written = await this.#commit(run, {
      status: 'Finished',
      operation,
      target,
      writes: [{ ...target, seen: current, values: updated }],
    });
    const result = written[0] ?? { before: null, after: null };
    await this.#hook(job, 'afterSync', () => type.afterSync?.(job, source, document, result));
    await this.#hook(job, 'finished', () =>
      type.finished?.(job, source, {
        status: 'Finished',
        operation,
        target,
        diffSummary: diffValues(result.before, result.after),
      }),
    );
    return { kind: 'ended', status: 'Finished' };
  }

  /** The operation the controller now gives for this target (it holds the lock), or null if it gives another. */
  async #askAgain(
    run: ControlledRun<Extract<SyncJobType, { mode: 'single' | 'multiple' }>>,
    target: { readonly table: string; readonly id: string },
  ): Promise<ResolvedTarget['operation'] | null> {
    const { type, job, source } = run;
    const found =
      type.mode === 'single'
        ? [await type.getTargetDocument(job, source)]
        : [...(await type.getMultipleTargetDocuments(job, source))];
    for (const info of found) {
      if (!info) continue;
      const again = resolveTarget(type, info);
      if (again.table === target.table && again.id === target.id) return again.operation;
    }
    return null;
  }

  /** Several targets: one child job per target, committed with the parent's `Relayed`. */
  async #relay(
    run: ControlledRun,
    relay: { readonly found: readonly TargetInfo[]; readonly targets: readonly ResolvedTarget[] },
  ): Promise<RunResult> {
    const { record, type, job, source } = run;
    await type.beforeRelay?.(job, source, relay.found);
    const now = this.config.now();
    // Children inherit the parent's settings, flags, trigger and dry run; a type disabled since does not stop them.
    const typeSettings = { ...DEFAULT_TYPE_SETTINGS, ...record.settings, disabled: false };
    const children = relay.targets.map((target) =>
      buildJobRecord(
        { tenantId: record.tenantId, type, typeSettings, now },
        {
          type: type.name,
          source: record.source,
          context: target.context ?? record.context,
          operation: target.operation,
          target: { table: target.table, id: target.id },
          dryRun: record.dryRun,
          flags: record.flags,
          trigger: record.trigger,
          parentJobId: record.id,
        },
      ),
    );
    return this.#end(run, { status: 'Relayed', children }, async () => {
      const relayed: SyncJob[] = children.map((child) => toSyncJob(newRecord(child)));
      await this.#hook(job, 'afterRelay', () => type.afterRelay?.(job, source, relayed));
    });
  }

  /** Bypass: the controller did its work; record what it says, and commit the rows it returned. */
  async #endBypass(run: ControlledRun, result: BypassResult | null): Promise<RunResult> {
    const requested = result?.writes ?? [];
    const writes = await Promise.all(
      requested.map(async (write) => ({ ...write, seen: await run.tenant.rows.get(write.table, write.id) })),
    );
    const first = writes[0];
    const target = result?.target ?? (first ? { table: first.table, id: first.id } : null);
    const diffSummary =
      result?.diff ??
      (writes.length === 1 && first ? diffValues(first.seen?.values ?? null, first.values) : null);
    if (first) {
      run.currentData = first.seen?.values ?? null;
      run.updatedData = first.values;
    }
    const status: SyncJobStatus = !target
      ? 'No Target'
      : run.job.dryRun || result?.status === 'Skipped'
        ? 'Skipped'
        : 'Finished';
    return this.#end(run, {
      status,
      operation: result?.operation ?? null,
      target,
      diffSummary,
      currentData: run.currentData,
      updatedData: run.updatedData,
      ...(status === 'Finished' ? { writes } : {}),
    });
  }

  /** Commits an ending, then runs `afterCommit` and the `finished` hook. */
  async #end(run: ControlledRun, ending: Ending, afterCommit?: () => Promise<void>): Promise<RunResult> {
    const { type, job, source } = run;
    await this.#commit(run, ending);
    await afterCommit?.();
    await this.#hook(job, 'finished', () =>
      type.finished?.(job, source, {
        status: ending.status,
        operation: ending.operation ?? null,
        target: ending.target ?? null,
        diffSummary: ending.diffSummary ?? null,
      }),
    );
    return { kind: 'ended', status: ending.status };
  }

  /**
   * The final commit: target writes, children, the job's status, and its locks let go, in one transaction.
   * It counts only while this worker's claim is current and the job has not timed out.
   */
  async #commit(
    run: ControlledRun,
    ending: Ending,
  ): Promise<Array<{ before: RowValues | null; after: RowValues | null }>> {
    const { claim, signal, job } = run;
    if (signal.aborted) throw signal.reason;
    const now = this.config.now();
    const startedAt = run.startedAt ?? now;
    const keepData = job.settings.verboseLogging;
    const endPatch = (
      diffSummary: DiffSummary | null,
      currentData: RowValues | null,
      updatedData: RowValues | null,
    ): JobPatch => ({
      status: ending.status,
      operation: ending.operation ?? null,
      target: ending.target ?? null,
      diffSummary,
      currentData: keepData ? currentData : null,
      updatedData: keepData ? updatedData : null,
      errorMessage: null,
      errorStack: null,
      retryAfter: null,
      startedAt,
      endedAt: now,
      durationMs: Math.max(0, Math.round(now - startedAt)),
      readyAt: null,
      releaseLease: true,
    });
    // A job that found its target never shows `Started` when it ends without a write: it moves from
    // `Queued` to its end in one step.
    if ((ending.writes ?? []).length === 0 && (ending.children ?? []).length === 0) {
      const patch = endPatch(
        ending.diffSummary ?? null,
        ending.currentData ?? null,
        ending.updatedData ?? null,
      );
      if (!(await this.#store.endClaimed(claim, RUNNABLE_STATUSES, patch, signal)))
        throw new LostClaimError();
      return [];
    }
    return run.tenant.transaction(async (tx) => {
      const written: Array<{ before: RowValues | null; after: RowValues | null }> = [];
      for (const write of ending.writes ?? []) {
        written.push(
          await tx.writeTarget({
            table: write.table,
            id: write.id,
            seen: write.seen,
            values: write.values,
            jobId: claim.jobId,
            jobType: job.type,
            jobSource: run.record.source,
          }),
        );
      }
      if (ending.children && ending.children.length > 0) await tx.insertJobs(ending.children);
      // What was really replaced and left, read inside the transaction, is what the record keeps.
      const only = written.length === 1 ? written[0] : undefined;
      const patch = only
        ? endPatch(diffValues(only.before, only.after), only.before, only.after)
        : endPatch(ending.diffSummary ?? null, ending.currentData ?? null, ending.updatedData ?? null);
      if (!(await tx.updateClaimed(claim, RUNNABLE_STATUSES, patch))) throw new LostClaimError();
      // Checked again inside the transaction: a job that timed out while it waited here must not commit.
      if (signal.aborted) throw signal.reason;
      await tx.releaseLocks(claim.jobId);
      return written;
    });
  }

  /** Records a failure; with retries left (and an error worth retrying), the job runs again after its delay. */
  async #fail(run: JobRun, error: unknown): Promise<RunResult> {
    const { claim, record } = run;
    const now = this.config.now();
    const retry = !(error instanceof UnrecoverableJobError) && record.retryCount < record.settings.maxRetries;
    const startedAt = run.startedAt ?? now;
    const message = error instanceof Error ? error.message : String(error);
    const patch: JobPatch = {
      status: 'Failed',
      operation: run.operation,
      target: run.target,
      errorMessage: message.slice(0, 10_000) || 'the job failed without a message',
      errorStack: error instanceof Error && error.stack ? error.stack.slice(0, 20_000) : null,
      // Kept on failure whatever the verbose setting: it is what the owner needs to see why.
      currentData: run.currentData,
      updatedData: run.updatedData,
      retryAfter: retry ? now + record.settings.retryDelaySec * 1000 : null,
      startedAt,
      endedAt: now,
      durationMs: Math.max(0, Math.round(now - startedAt)),
      readyAt: null,
      releaseLease: true,
    };
    try {
      if (!(await this.#store.endClaimed(claim, RUNNABLE_STATUSES, patch))) return { kind: 'lost' };
      this.#logger.warn(
        { jobId: record.id, tenantId: record.tenantId, type: record.type, err: error, retry },
        `sync job failed: ${message}`,
      );
      return { kind: 'ended', status: 'Failed' };
    } catch (storeError) {
      // The store itself failed: the lease runs out and another worker takes the job over.
      this.#logger.error({ jobId: record.id, err: storeError }, 'could not record a failed sync job');
      return { kind: 'lost' };
    }
  }

  /** Hooks after the commit cannot change the outcome: their errors are logged. */
  async #hook(job: RunningSyncJob, name: string, call: () => unknown): Promise<void> {
    try {
      await call();
    } catch (error) {
      this.#logger.warn(
        { jobId: job.id, type: job.type, err: error },
        `the ${name} hook of a sync job failed`,
      );
    }
  }
}
