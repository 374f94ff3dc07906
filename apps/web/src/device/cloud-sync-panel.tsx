import { useState, type ReactNode } from 'react';
import { Dialog } from '../shared/dialog.js';
import { messageOf } from '../shared/http.js';
import { Notice } from '../shared/notice.js';
import { clockTime, duration, everyText } from '../shared/time.js';
import { deviceApi } from './device-api.js';
import { useDevice } from './device-context.js';
import { needsPairing } from './pill-text.js';
import { StatusPill } from './status-pill.js';
import type { DeviceStatus, SyncSummary } from './types.js';

type Outcome = { readonly kind: 'success' | 'error'; readonly text: string; readonly at: number } | null;

/** Settings → System → Cloud Sync: the state of sync, "Force sync now", the sync task, and force pull. */
export function CloudSyncPanel(props: {
  readonly status: DeviceStatus;
  readonly onOpenLog: () => void;
}): ReactNode {
  const { status } = props;
  const { identity, dataChanged } = useDevice();
  const [busy, setBusy] = useState<'sync' | 'pull' | 'task' | null>(null);
  const [outcome, setOutcome] = useState<Outcome>(null);
  const [advanced, setAdvanced] = useState(false);

  const run = async (kind: 'sync' | 'pull' | 'task', action: () => Promise<Outcome>): Promise<void> => {
    setBusy(kind);
    setOutcome(null);
    try {
      setOutcome(await action());
      dataChanged();
    } catch (failure) {
      setOutcome({ kind: 'error', text: messageOf(failure), at: Date.now() });
    } finally {
      setBusy(null);
    }
  };
  const forceSync = (): Promise<void> =>
    run('sync', async () => summaryOutcome('Sync', await deviceApi.syncNow()));
  const setTask = (start: boolean): Promise<void> =>
    run('task', async () => {
      await (start ? deviceApi.startWorker() : deviceApi.stopWorker());
      return null;
    });
  const forcePull = (discardLocal: boolean): Promise<void> =>
    run('pull', async () => summaryOutcome('Force pull', await deviceApi.pull(discardLocal)));

  const intervalMs = identity?.intervalMs ?? 30_000;
  // Removed by the owner or session ended: the page's banner says so, once; nothing here can sync.
  const ended = needsPairing(status);
  // A failure the person saw is old news once a later cycle synced, or once the banner tells it.
  const lastSyncMs = status.lastSyncedAt === null ? 0 : Date.parse(status.lastSyncedAt);
  const shown = outcome?.kind === 'error' && (lastSyncMs > outcome.at || ended) ? null : outcome;
  return (
    <section aria-labelledby="cloud-sync-title" className="card panel">
      <h3 id="cloud-sync-title">Cloud Sync</h3>
      <div className="panel-row">
        <StatusPill status={status} onOpen={props.onOpenLog} />
        <button
          type="button"
          className="primary"
          onClick={() => void forceSync()}
          disabled={busy !== null || ended}
        >
          {busy === 'sync' ? 'Syncing...' : 'Force sync now'}
        </button>
      </div>
      {shown && <Notice kind={shown.kind}>{shown.text}</Notice>}
      <dl className="facts">
        <dt>Last sync</dt>
        <dd>
          {status.lastSyncedAt ? (
            <span className="text-good last-sync">{clockTime(status.lastSyncedAt)}</span>
          ) : (
            'Never'
          )}
        </dd>
        <dt>Unsent changes</dt>
        <dd>{status.pendingChanges}</dd>
        <dt>Server</dt>
        <dd>{identity?.serverUrl ?? 'Not paired'}</dd>
        <dt>This device</dt>
        <dd>{identity?.name ?? 'Unnamed'}</dd>
        {identity?.storeName ? (
          <>
            <dt>Store</dt>
            <dd>{identity.storeName}</dd>
          </>
        ) : null}
      </dl>
      {/* The last cycle's error, unless the answer to the person's own click just said it. */}
      {status.lastError && status.state !== 'synced' && shown?.kind !== 'error' && !ended && (
        <Notice kind="error">{status.lastError}</Notice>
      )}
      <div className="panel-row">
        <p className="schedule" role="status">
          {status.running ? `Sync task scheduled to run ${everyText(intervalMs)}` : 'Sync task stopped'}
          {status.running && status.nextSyncAt && (
            <span className="muted"> · next at {clockTime(status.nextSyncAt)}</span>
          )}
        </p>
        <button
          type="button"
          onClick={() => void setTask(true)}
          disabled={busy !== null || status.running || ended}
        >
          Start sync task
        </button>
        <button type="button" onClick={() => void setTask(false)} disabled={busy !== null || !status.running}>
          Stop sync task
        </button>
      </div>
      <button
        type="button"
        className="link-button"
        aria-expanded={advanced}
        aria-controls="cloud-sync-advanced"
        onClick={() => setAdvanced((shown) => !shown)}
      >
        {advanced ? 'Hide advanced' : 'Show advanced'}
      </button>
      {advanced && (
        <ForcePull
          pendingChanges={status.pendingChanges}
          busy={busy !== null || ended}
          pulling={busy === 'pull'}
          onPull={(discardLocal) => void forcePull(discardLocal)}
        />
      )}
    </section>
  );
}

function ForcePull(props: {
  readonly pendingChanges: number;
  readonly busy: boolean;
  readonly pulling: boolean;
  readonly onPull: (discardLocal: boolean) => void;
}): ReactNode {
  const [discard, setDiscard] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const { pendingChanges } = props;
  return (
    <div id="cloud-sync-advanced" className="advanced">
      <p className="muted">
        Force pull takes the cloud&apos;s rows without sending this device&apos;s changes first. You rarely
        need it: &quot;Force sync now&quot; is what you want.
      </p>
      <label className="checkbox">
        <input type="checkbox" checked={discard} onChange={(event) => setDiscard(event.target.checked)} />
        <span>Discard my unsent changes</span>
      </label>
      <button
        type="button"
        className={discard ? 'danger' : undefined}
        disabled={props.busy}
        onClick={() => (discard ? setConfirming(true) : props.onPull(false))}
      >
        {props.pulling ? 'Pulling...' : 'Force pull from cloud'}
      </button>
      {confirming && (
        <Dialog title="Discard unsent changes?" onClose={() => setConfirming(false)}>
          <p>
            {pendingChanges === 0
              ? 'This device has no unsent changes now; any it has when the pull runs are replaced with the cloud’s rows.'
              : `This device has ${pendingChanges} ${pendingChanges === 1 ? 'change' : 'changes'} the server has not received. Force pull will replace ${pendingChanges === 1 ? 'it' : 'them'} with the cloud’s rows.`}
          </p>
          <p>
            The discarded rows are kept on this device (in the set-aside table, <code>_sync_set_aside</code>),
            so they can still be found.
          </p>
          <div className="dialog-actions">
            <button type="button" onClick={() => setConfirming(false)}>
              Keep my changes
            </button>
            <button
              type="button"
              className="danger"
              onClick={() => {
                setConfirming(false);
                props.onPull(true);
              }}
            >
              Discard and pull
            </button>
          </div>
        </Dialog>
      )}
    </div>
  );
}

function summaryOutcome(what: string, summary: SyncSummary): Outcome {
  const at = Date.now();
  if (!summary.ok) return { kind: 'error', text: `${what} failed: ${summary.error ?? 'unknown error'}`, at };
  const parts = [`pushed ${summary.pushed}`, `pulled ${summary.pulled}`];
  if (summary.conflicts > 0) parts.push(`${summary.conflicts} conflicts`);
  if (summary.rejected > 0) parts.push(`${summary.rejected} rejected`);
  return {
    kind: 'success',
    text: `${what} done in ${duration(summary.durationMs)}: ${parts.join(', ')}.`,
    at,
  };
}
