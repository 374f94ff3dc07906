import type { SyncJobOperation, SyncJobStatus, SyncJobTypeInfo } from '@tillsync/protocol';
import { SYNC_JOB_OPERATIONS, SYNC_JOB_STATUSES } from '@tillsync/protocol/sync-job-names';
import { useState, type FormEvent, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { Notice } from '../shared/notice.js';
import { Link, navigate } from '../shared/router.js';
import { dateTime, duration } from '../shared/time.js';
import { JobStatusBadge, jobName } from './job-format.js';
import { useAction, useLoad, useOwner } from './owner-session.js';
import { TableHead } from '../shared/table.js';

/** The sync jobs, newest first, filtered by status and type; "New job" enqueues one. */
export function JobsScreen(props: { readonly query: URLSearchParams }): ReactNode {
  const status = (props.query.get('status') ?? '') as SyncJobStatus | '';
  const type = props.query.get('type') ?? '';
  const jobs = useLoad((api) => api.jobs({ status, type, limit: 100 }), `${status}|${type}`, 3000);
  const types = useLoad((api) => api.jobTypes(), 'types');
  const [creating, setCreating] = useState(false);

  const setFilter = (name: 'status' | 'type', value: string): void => {
    const query = new URLSearchParams(props.query);
    if (value === '') query.delete(name);
    else query.set(name, value);
    const text = query.toString();
    navigate(text === '' ? '/jobs' : `/jobs?${text}`);
  };

  return (
    <section aria-labelledby="jobs-title" className="screen">
      <div className="screen-title">
        <h1 id="jobs-title">Sync jobs</h1>
        <button type="button" className="primary" onClick={() => setCreating(true)}>
          New job
        </button>
      </div>
      <div className="filters" role="group" aria-label="Filter jobs">
        <label>
          <span>Status</span>
          <select value={status} onChange={(event) => setFilter('status', event.target.value)}>
            <option value="">Any status</option>
            {SYNC_JOB_STATUSES.map((value) => (
              <option key={value} value={value}>
                {value}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Type</span>
          <select value={type} onChange={(event) => setFilter('type', event.target.value)}>
            <option value="">Any type</option>
            {(types.data ?? []).map((jobType) => (
              <option key={jobType.name} value={jobType.name}>
                {jobType.name}
              </option>
            ))}
          </select>
        </label>
      </div>
      {jobs.error && <Notice kind="error">{jobs.error}</Notice>}
      <div className="table-scroll">
        <table className="table" aria-label="Sync jobs">
          <TableHead
            columns={['Job', 'Type', 'Status', 'Trigger', 'Created', { label: 'Duration', numeric: true }]}
          />
          <tbody>
            {(jobs.data ?? []).map((job) => (
              <tr key={job.id}>
                <td>
                  <Link to={`/jobs/${job.id}`}>{jobName(job)}</Link>
                  {job.dryRun && <span className="badge badge-blue">Dry run</span>}
                </td>
                <td>{job.type}</td>
                <td>
                  <JobStatusBadge status={job.status} />
                </td>
                <td>{job.trigger.type}</td>
                <td>{dateTime(job.createdAt)}</td>
                <td className="numeric">{job.durationMs === null ? '—' : duration(job.durationMs)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {jobs.data?.length === 0 && <p>No job matches these filters.</p>}
      {creating && <NewJobDialog types={types.data ?? []} onClose={() => setCreating(false)} />}
    </section>
  );
}

/** Enqueues a job of a type for one source row, as a dry run or for real. */
function NewJobDialog(props: {
  readonly types: readonly SyncJobTypeInfo[];
  readonly onClose: () => void;
}): ReactNode {
  const { api } = useOwner();
  const action = useAction();
  const [typeName, setTypeName] = useState(props.types[0]?.name ?? '');
  const [sourceId, setSourceId] = useState('');
  const [operation, setOperation] = useState<SyncJobOperation | ''>('');
  const [context, setContext] = useState('');
  const [dryRun, setDryRun] = useState(true);
  const [holdPending, setHoldPending] = useState(false);
  const [contextError, setContextError] = useState<string | null>(null);
  const jobType = props.types.find((candidate) => candidate.name === typeName);

  const submit = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    let parsedContext: Record<string, unknown> | undefined;
    if (context.trim() !== '') {
      try {
        const value = JSON.parse(context) as unknown;
        if (typeof value !== 'object' || value === null || Array.isArray(value))
          throw new Error('not an object');
        parsedContext = value as Record<string, unknown>;
      } catch {
        setContextError('The context must be a JSON object, such as {"day": "2026-11-22"}.');
        return;
      }
    }
    setContextError(null);
    await action.run(async () => {
      const job = await api.enqueueJob({
        type: typeName,
        ...(sourceId.trim() !== '' ? { source: { id: sourceId.trim() } } : {}),
        ...(operation !== '' ? { operation } : {}),
        ...(parsedContext ? { context: parsedContext } : {}),
        dryRun,
        ...(holdPending ? { queueOnInsert: false } : {}),
      });
      props.onClose();
      navigate(`/jobs/${job.id}`);
    });
  };

  return (
    <Dialog title="New sync job" onClose={props.onClose}>
      <form className="stack" onSubmit={(event) => void submit(event)}>
        <label>
          <span>Job type</span>
          <select value={typeName} onChange={(event) => setTypeName(event.target.value)} required>
            {props.types.map((candidate) => (
              <option key={candidate.name} value={candidate.name}>
                {candidate.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Source row id{jobType ? ` (in ${jobType.sourceTable})` : ''}</span>
          <input value={sourceId} onChange={(event) => setSourceId(event.target.value)} spellCheck={false} />
        </label>
        <label>
          <span>Operation</span>
          <select
            value={operation}
            onChange={(event) => setOperation(event.target.value as SyncJobOperation | '')}
          >
            <option value="">Decided by the job type</option>
            {SYNC_JOB_OPERATIONS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </label>
        <label>
          <span>Context (JSON, optional)</span>
          <textarea
            rows={3}
            value={context}
            onChange={(event) => setContext(event.target.value)}
            spellCheck={false}
          />
        </label>
        <label className="checkbox">
          <input type="checkbox" checked={dryRun} onChange={(event) => setDryRun(event.target.checked)} />
          <span>Dry run: compute the diff, write nothing</span>
        </label>
        <label className="checkbox">
          <input
            type="checkbox"
            checked={holdPending}
            onChange={(event) => setHoldPending(event.target.checked)}
          />
          <span>Keep it Pending until I start it</span>
        </label>
        {contextError && <Notice kind="error">{contextError}</Notice>}
        {action.error && <Notice kind="error">{action.error}</Notice>}
        <div className="dialog-actions">
          <button type="button" onClick={props.onClose}>
            Cancel
          </button>
          <button type="submit" className="primary" disabled={action.busy || typeName === ''}>
            Enqueue job
          </button>
        </div>
      </form>
    </Dialog>
  );
}
