import type { SyncJob } from '@tillsync/protocol';
import { Fragment, useState, type FormEvent, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { Notice } from '../shared/notice.js';
import { Link, navigate } from '../shared/router.js';
import { dateTime, duration } from '../shared/time.js';
import { cellText, columnLabel, rowText, shortId } from '../shared/shop-words.js';
import { JobStatusBadge, jobName, refText } from './job-format.js';
import { useAction, useLoad, useOwner } from './owner-session.js';
import { TableHead } from '../shared/table.js';

/** Statuses that still move by themselves: the page looks again while the job is in one. */
const MOVING = new Set(['Pending', 'Queued', 'Started', 'Failed']);

/** One job: what it did, why, when, to what, and the owner's start, cancel and retry. */
export function JobPage(props: { readonly id: string }): ReactNode {
  const job = useLoad(
    (api) => api.job(props.id),
    props.id,
    (loaded) => (loaded === null || MOVING.has(loaded.status) ? 2000 : undefined),
  );
  return (
    <section aria-labelledby="job-title" className="screen">
      <p>
        <Link to="/jobs">← All sync jobs</Link>
      </p>
      {job.error && <Notice kind="error">{job.error}</Notice>}
      {job.data && <JobDetails job={job.data} onChanged={job.reload} />}
      {!job.data && !job.error && <p>Loading…</p>}
    </section>
  );
}

function JobDetails(props: { readonly job: SyncJob; readonly onChanged: () => void }): ReactNode {
  const { job } = props;
  const { api } = useOwner();
  const action = useAction();
  const [canceling, setCanceling] = useState(false);
  const act = (work: () => Promise<unknown>): Promise<void> =>
    action.run(async () => {
      await work();
      props.onChanged();
    });
  const dryRunAgain = (): Promise<void> =>
    action.run(async () => {
      const copy = await api.enqueueJob({
        type: job.type,
        ...(job.source ? { source: job.source } : {}),
        ...(job.operation ? { operation: job.operation } : {}),
        context: job.context,
        dryRun: true,
      });
      navigate(`/jobs/${copy.id}`);
    });

  return (
    <>
      <div className="screen-title">
        <h1 id="job-title">{job.title ? jobName(job) : `${job.type} job`}</h1>
        <JobStatusBadge status={job.status} />
        {job.dryRun && <span className="badge badge-blue">Dry run</span>}
      </div>
      <div className="toolbar" role="group" aria-label="Job actions">
        {job.status === 'Pending' && (
          <button
            type="button"
            className="primary"
            disabled={action.busy}
            onClick={() => void act(() => api.startJob(job.id))}
          >
            Start
          </button>
        )}
        {job.status === 'Failed' && (
          <button
            type="button"
            className="primary"
            disabled={action.busy}
            onClick={() => void act(() => api.retryJob(job.id))}
          >
            Retry
          </button>
        )}
        {(job.status === 'Pending' || job.status === 'Queued' || job.status === 'Failed') && (
          <button type="button" className="danger" disabled={action.busy} onClick={() => setCanceling(true)}>
            Cancel job
          </button>
        )}
        <button type="button" disabled={action.busy} onClick={() => void dryRunAgain()}>
          Dry run again
        </button>
      </div>
      {action.error && <Notice kind="error">{action.error}</Notice>}
      {job.errorMessage && (
        <section aria-labelledby="job-error-title" className="card card-error">
          <h2 id="job-error-title">Error</h2>
          <p>{job.errorMessage}</p>
          {job.errorStack && (
            <details>
              <summary>Stack trace</summary>
              <pre>{job.errorStack}</pre>
            </details>
          )}
        </section>
      )}
      {job.cancelReason && <Notice kind="info">Canceled: {job.cancelReason}</Notice>}
      <div className="columns">
        <Timeline job={job} />
        <section aria-labelledby="job-facts-title" className="card">
          <h2 id="job-facts-title">Details</h2>
          <dl className="facts">
            <dt>Type</dt>
            <dd>{job.type}</dd>
            <dt>Source</dt>
            <dd>{refText(job.source)}</dd>
            <dt>Operation</dt>
            <dd>{job.operation ?? '—'}</dd>
            <dt>Target</dt>
            <dd>{refText(job.target)}</dd>
            <dt>Trigger</dt>
            <dd>{triggerText(job)}</dd>
            <dt>Queue</dt>
            <dd>
              {job.queue}, timeout {job.timeoutSec} s
            </dd>
            <dt>Retries</dt>
            <dd>
              {job.retryCount} of {job.maxRetries}, {job.retryDelaySec} s apart
              {job.retryAfter && ` · next at ${dateTime(job.retryAfter)}`}
            </dd>
            <dt>Flags</dt>
            <dd>{flagsText(job)}</dd>
            {job.parentJobId && (
              <>
                <dt>Parent job</dt>
                <dd>
                  <Link to={`/jobs/${job.parentJobId}`}>job {shortId(job.parentJobId)}</Link>
                </dd>
              </>
            )}
          </dl>
        </section>
      </div>
      <DiffTable job={job} />
      <section aria-labelledby="job-context-title" className="card">
        <h2 id="job-context-title">Context</h2>
        {Object.keys(job.context).length === 0 ? (
          <p className="muted">No context.</p>
        ) : (
          <dl className="facts" aria-label="Context">
            {Object.entries(job.context).map(([key, value]) => (
              <Fragment key={key}>
                <dt>{columnLabel(key)}</dt>
                <dd>{cellText(key, value)}</dd>
              </Fragment>
            ))}
          </dl>
        )}
      </section>
      {job.children.length > 0 && (
        <section aria-labelledby="job-children-title" className="card">
          <h2 id="job-children-title">Child jobs</h2>
          <ul>
            {job.children.map((child) => (
              <li key={child.id}>
                <Link to={`/jobs/${child.id}`}>{refText(child.target)}</Link>{' '}
                <JobStatusBadge status={child.status} />
              </li>
            ))}
          </ul>
        </section>
      )}
      {(job.currentData || job.updatedData) && <Snapshots job={job} />}
      {canceling && (
        <CancelDialog
          onClose={() => setCanceling(false)}
          onCancel={(reason) =>
            void act(async () => {
              await api.cancelJob(job.id, reason);
              setCanceling(false);
            })
          }
        />
      )}
    </>
  );
}

function Timeline(props: { readonly job: SyncJob }): ReactNode {
  const { job } = props;
  const steps: { label: string; at: string }[] = [{ label: 'Created', at: job.createdAt }];
  if (job.startedAt) steps.push({ label: 'Started', at: job.startedAt });
  if (job.endedAt) steps.push({ label: `Ended: ${job.status}`, at: job.endedAt });
  if (job.retryAfter) steps.push({ label: 'Retry after', at: job.retryAfter });
  return (
    <section aria-labelledby="job-timeline-title" className="card">
      <h2 id="job-timeline-title">Timeline</h2>
      <ol className="timeline">
        {steps.map((step) => (
          <li key={step.label}>
            <span className="timeline-label">{step.label}</span>{' '}
            <time dateTime={step.at}>{dateTime(step.at)}</time>
          </li>
        ))}
      </ol>
      {job.durationMs !== null && <p className="muted">Ran for {duration(job.durationMs)}.</p>}
    </section>
  );
}

/** The diff as a table: each field, its value before, and after (or, in a dry run, what it would be). */
function DiffTable(props: { readonly job: SyncJob }): ReactNode {
  const { job } = props;
  const fields = Object.entries(job.diffSummary ?? {});
  return (
    <section aria-labelledby="job-diff-title" className="card">
      <h2 id="job-diff-title">{job.dryRun ? 'Diff (dry run: nothing was written)' : 'Diff'}</h2>
      {fields.length === 0 ? (
        <p className="muted">{job.diffSummary === null ? 'No diff recorded yet.' : 'No field changes.'}</p>
      ) : (
        <table className="table" aria-label="Diff">
          <TableHead columns={['Field', 'Before', 'After']} />
          <tbody>
            {fields.map(([field, change]) => (
              <tr key={field}>
                <th scope="row">{columnLabel(field)}</th>
                <td className="diff-old">{cellText(field, change.old)}</td>
                <td className="diff-new">{cellText(field, change.new)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

/** The target row before and after the job, field by field, in the shop's words. */
function Snapshots(props: { readonly job: SyncJob }): ReactNode {
  const before = snapshotValues(props.job.currentData);
  const after = snapshotValues(props.job.updatedData);
  const fields = [...new Set([...Object.keys(before), ...Object.keys(after)])];
  return (
    <section aria-labelledby="job-snapshots-title" className="card">
      <h2 id="job-snapshots-title">Target before and after</h2>
      <table className="table" aria-label="Target before and after">
        <TableHead columns={['Field', 'Before', 'After']} />
        <tbody>
          {fields.map((field) => (
            <tr key={field}>
              <th scope="row">{columnLabel(field)}</th>
              <td>{props.job.currentData ? cellText(field, before[field]) : '(no row)'}</td>
              <td>{props.job.updatedData ? cellText(field, after[field]) : '(no row)'}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}

/** A snapshot's fields: a row's `values` when it has them, else the object itself. */
function snapshotValues(data: unknown): Record<string, unknown> {
  if (typeof data !== 'object' || data === null) return {};
  const values = (data as { values?: unknown }).values;
  return typeof values === 'object' && values !== null
    ? (values as Record<string, unknown>)
    : (data as Record<string, unknown>);
}

function CancelDialog(props: {
  readonly onClose: () => void;
  readonly onCancel: (reason: string) => void;
}): ReactNode {
  const [reason, setReason] = useState('');
  const submit = (event: FormEvent): void => {
    event.preventDefault();
    props.onCancel(reason.trim());
  };
  return (
    <Dialog title="Cancel this job?" onClose={props.onClose}>
      <form className="stack" onSubmit={submit}>
        <p>A canceled job never runs. Say why, for whoever looks at it later.</p>
        <label>
          <span>Reason</span>
          <input value={reason} onChange={(event) => setReason(event.target.value)} autoFocus />
        </label>
        <div className="dialog-actions">
          <button type="button" onClick={props.onClose}>
            Keep it
          </button>
          <button type="submit" className="danger">
            Cancel job
          </button>
        </div>
      </form>
    </Dialog>
  );
}

function triggerText(job: SyncJob): string {
  const { trigger } = job;
  const row = trigger.table ? ` of ${rowText({ table: trigger.table, id: trigger.id ?? '' })}` : '';
  const event = trigger.event ? ` (${trigger.event})` : '';
  return `${trigger.type}${event}${row} at ${dateTime(trigger.at)}`;
}

function flagsText(job: SyncJob): string {
  const flags = [
    job.insertEnabled ? 'insert' : 'no insert',
    job.updateEnabled ? 'update' : 'no update',
    job.deleteEnabled ? 'delete' : 'no delete',
  ];
  if (job.updateWithoutChangesEnabled) flags.push('update without changes');
  if (job.verboseLogging) flags.push('verbose logging');
  return flags.join(', ');
}
