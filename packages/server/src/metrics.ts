import type { EndedJob } from '@tillsync/jobs';
import {
  Counter,
  Gauge,
  Histogram,
  Registry,
  collectDefaultMetrics,
  type CounterConfiguration,
  type GaugeConfiguration,
  type HistogramConfiguration,
} from 'prom-client';

/** The server's Prometheus metrics, on a registry of its own (several servers may share a process in tests). */
export class ServerMetrics {
  readonly registry = new Registry();
  readonly pushes = this.#counter({
    name: 'tillsync_pushes_total',
    help: 'Pushes answered',
  });
  readonly pushedChanges = this.#counter({
    name: 'tillsync_pushed_changes_total',
    help: 'Changes received in pushes, by result',
    labelNames: ['status'] as const,
  });
  readonly rejections = this.#counter({
    name: 'tillsync_rejected_changes_total',
    help: 'Changes rejected, by code',
    labelNames: ['code'] as const,
  });
  readonly pulls = this.#counter({
    name: 'tillsync_pulls_total',
    help: 'Pull pages answered',
  });
  readonly pulledRows = this.#counter({
    name: 'tillsync_pulled_rows_total',
    help: 'Rows handed out by pulls',
  });
  readonly requestSeconds = this.#histogram({
    name: 'tillsync_http_request_duration_seconds',
    help: 'HTTP request latency by route',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
  });
  readonly connectedDevices = this.#gauge({
    name: 'tillsync_connected_devices',
    help: 'Devices holding an event stream to this process',
  });

  readonly jobsEnded = this.#counter({
    name: 'tillsync_sync_jobs_ended_total',
    help: 'Sync jobs this process ran to an end, by type and final status (a Failed job may be retried)',
    labelNames: ['type', 'status'] as const,
  });
  readonly jobSeconds = this.#histogram({
    name: 'tillsync_sync_job_duration_seconds',
    help: 'How long sync jobs this process ran took, from their start to their end, by type',
    labelNames: ['type'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
  });

  /** Reads the jobs' counts from the database when /metrics is scraped (set by the server). */
  #jobCounts: (() => Promise<ReadonlyArray<{ status: string; queue: string; count: number }>>) | null = null;
  readonly jobs = this.#gauge({
    name: 'tillsync_sync_jobs',
    help: 'Sync jobs in the database, by status and queue (every tenant), read when scraped',
    labelNames: ['status', 'queue'] as const,
    collect: async () => {
      if (!this.#jobCounts) return;
      const counts = await this.#jobCounts();
      this.jobs.reset();
      for (const { status, queue, count } of counts) this.jobs.set({ status, queue }, count);
    },
  });

  constructor() {
    collectDefaultMetrics({ register: this.registry, prefix: 'tillsync_' });
  }

  // Every metric goes on this server's own registry, never the global one.
  #counter<Label extends string>(definition: Omit<CounterConfiguration<Label>, 'registers'>): Counter<Label> {
    return new Counter({ ...definition, registers: [this.registry] });
  }

  #gauge<Label extends string>(definition: Omit<GaugeConfiguration<Label>, 'registers'>): Gauge<Label> {
    return new Gauge({ ...definition, registers: [this.registry] });
  }

  #histogram<Label extends string>(
    definition: Omit<HistogramConfiguration<Label>, 'registers'>,
  ): Histogram<Label> {
    return new Histogram({ ...definition, registers: [this.registry] });
  }

  /** Where the jobs' counts by status and queue are read from. */
  countJobsWith(read: () => Promise<ReadonlyArray<{ status: string; queue: string; count: number }>>): void {
    this.#jobCounts = read;
  }

  /** Counts a sync job that ended here, and notes how long it took. */
  jobEnded(ended: EndedJob): void {
    this.jobsEnded.inc({ type: ended.type, status: ended.status });
    this.jobSeconds.observe({ type: ended.type }, ended.durationMs / 1000);
  }
}
