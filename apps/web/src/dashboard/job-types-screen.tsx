import type { SyncJobQueue, SyncJobTypeInfo } from '@tillsync/protocol';
import { SYNC_JOB_QUEUES } from '@tillsync/protocol/sync-job-names';
import { useState, type FormEvent, type ReactNode } from 'react';
import { Notice } from '../shared/notice.js';
import { Link } from '../shared/router.js';
import { useAction, useLoad, useOwner } from './owner-session.js';

/** The job types: what their code does, and their settings, which the owner edits here. */
export function JobTypesScreen(): ReactNode {
  const types = useLoad((api) => api.jobTypes(), 'types');
  return (
    <section aria-labelledby="job-types-title" className="screen">
      <h1 id="job-types-title">Job types</h1>
      <p className="muted">
        A job type turns a change in one table into work elsewhere. Its code is the shop&apos;s; these
        settings apply to its next jobs.
      </p>
      {types.error && <Notice kind="error">{types.error}</Notice>}
      <div className="type-list">
        {(types.data ?? []).map((jobType) => (
          <JobTypeForm key={jobType.name} jobType={jobType} onSaved={types.reload} />
        ))}
      </div>
    </section>
  );
}

function JobTypeForm(props: { readonly jobType: SyncJobTypeInfo; readonly onSaved: () => void }): ReactNode {
  const { jobType } = props;
  const { api } = useOwner();
  const action = useAction();
  const [queue, setQueue] = useState<SyncJobQueue>(jobType.queue);
  const [timeoutSec, setTimeoutSec] = useState(String(jobType.timeoutSec));
  const [retryDelaySec, setRetryDelaySec] = useState(String(jobType.retryDelaySec));
  const [maxRetries, setMaxRetries] = useState(String(jobType.maxRetries));
  const [verboseLogging, setVerboseLogging] = useState(jobType.verboseLogging);
  const [disabled, setDisabled] = useState(jobType.disabled);
  const [schedule, setSchedule] = useState(jobType.schedule ?? '');
  const [saved, setSaved] = useState(false);
  const titleId = `type-${jobType.name}`;

  const save = (event: FormEvent): Promise<void> => {
    event.preventDefault();
    setSaved(false);
    return action.run(async () => {
      await api.updateJobType(jobType.name, {
        queue,
        timeoutSec: Number(timeoutSec),
        retryDelaySec: Number(retryDelaySec),
        maxRetries: Number(maxRetries),
        verboseLogging,
        disabled,
        // Empty: no schedule ("" turns off one the type's code sets; null leaves a type without one as it is).
        schedule: schedule.trim() !== '' ? schedule.trim() : jobType.schedule === null ? null : '',
      });
      setSaved(true);
      props.onSaved();
    });
  };

  return (
    <form className="card" aria-labelledby={titleId} onSubmit={(event) => void save(event)}>
      <div className="screen-title">
        <h2 id={titleId}>{jobType.name}</h2>
        {jobType.disabled && <span className="badge badge-grey">Disabled</span>}
        <Link to={`/jobs?type=${encodeURIComponent(jobType.name)}`}>Its jobs</Link>
      </div>
      <p className="muted">
        {jobType.sourceTable} → {jobType.targetTable ?? 'outside system'} · mode {jobType.mode}
        {jobType.triggers.length > 0 ? ` · runs on ${jobType.triggers.join(', ')}` : ' · runs when enqueued'}
      </p>
      <div className="fields">
        <label>
          <span>Queue</span>
          <select value={queue} onChange={(event) => setQueue(event.target.value as SyncJobQueue)}>
            {SYNC_JOB_QUEUES.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Timeout (seconds)</span>
          <input
            type="number"
            min={1}
            step="any"
            value={timeoutSec}
            onChange={(event) => setTimeoutSec(event.target.value)}
            required
          />
        </label>
        <label>
          <span>Retry delay (seconds)</span>
          <input
            type="number"
            min={0}
            step="any"
            value={retryDelaySec}
            onChange={(event) => setRetryDelaySec(event.target.value)}
            required
          />
        </label>
        <label>
          <span>Max retries</span>
          <input
            type="number"
            min={0}
            step={1}
            value={maxRetries}
            onChange={(event) => setMaxRetries(event.target.value)}
            required
          />
        </label>
        <label>
          <span>Schedule (cron, UTC)</span>
          <input
            type="text"
            placeholder="e.g. 0 3 * * *"
            value={schedule}
            onChange={(event) => setSchedule(event.target.value)}
          />
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={verboseLogging}
            onChange={(event) => setVerboseLogging(event.target.checked)}
          />
          <span>Verbose logging</span>
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={disabled} onChange={(event) => setDisabled(event.target.checked)} />
          <span>Disabled</span>
        </label>
        <button type="submit" className="primary" disabled={action.busy} aria-label={`Save ${jobType.name}`}>
          Save
        </button>
      </div>
      {saved && <Notice kind="success">Saved.</Notice>}
      {action.error && <Notice kind="error">{action.error}</Notice>}
    </form>
  );
}
