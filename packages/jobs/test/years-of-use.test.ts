import {
  JobTypeRegistry,
  checkSettings,
  concurrencyPerQueue,
  defineSyncJobType,
  lastTick,
  planTriggeredJobs,
  type TriggeringChange,
} from '@tillsync/jobs';
import { describe, expect, it } from 'vitest';

/** A type whose source and target are one table: its own writes could enqueue it again. */
const tree = defineSyncJobType({
  name: 'category-tree',
  sourceTable: 'categories',
  targetTable: 'categories',
  mode: 'single',
  triggers: ['update'],
  getTargetDocument: () => null,
  updateTargetDoc: () => {},
});

const change = (
  id: string,
  writtenBy: NonNullable<TriggeringChange['writtenBy']> | null,
): TriggeringChange => ({
  table: 'categories',
  id,
  event: 'update',
  before: { name: 'a' },
  after: { name: 'b' },
  deviceId: null,
  writtenBy,
});

describe('the loop guard of automatic triggers', () => {
  const plan = (changes: TriggeringChange[]) =>
    planTriggeredJobs({
      tenantId: 't',
      types: new JobTypeRegistry([tree]),
      settings: new Map(),
      changes,
      now: 1,
    }).map((job) => job.source?.id);

  it('skips a type only for the row its job read as source, not for the other rows it writes', () => {
    const by = { jobId: 'j1', jobType: 'category-tree', source: { table: 'categories', id: 'parent' } };
    expect(plan([change('parent', by)])).toEqual([]);
    expect(plan([change('child', by)])).toEqual(['child']);
  });

  it('does not skip for a job of another type, nor for a write no job made', () => {
    const other = { jobId: 'j2', jobType: 'other', source: { table: 'categories', id: 'parent' } };
    expect(plan([change('parent', other)])).toEqual(['parent']);
    expect(plan([change('parent', null)])).toEqual(['parent']);
  });
});

describe('settings for years of use', () => {
  it('a schedule must be a cron expression; its last tick counts a tick at now', () => {
    expect(() => checkSettings({ schedule: 'every day' }, 'job type "x"')).toThrow(
      /job type "x": schedule "every day" is not a cron expression/,
    );
    expect(() => checkSettings({ schedule: '*/5 * * * *' }, 'x')).not.toThrow();
    expect(() => checkSettings({ schedule: '' }, 'x')).not.toThrow();
    const at = Date.parse('2026-03-01T10:07:00.000Z');
    expect(lastTick('*/5 * * * *', at)).toBe(Date.parse('2026-03-01T10:05:00.000Z'));
    expect(lastTick('*/5 * * * *', Date.parse('2026-03-01T10:05:00.000Z'))).toBe(
      Date.parse('2026-03-01T10:05:00.000Z'),
    );
  });

  it('concurrency is one number for each queue, or a share per queue', () => {
    expect(concurrencyPerQueue(3)).toEqual({ default: 3, short: 3, long: 3 });
    expect(concurrencyPerQueue({ short: 4, long: 2 })).toEqual({ default: 8, short: 4, long: 2 });
    expect(() => concurrencyPerQueue({ long: 0 })).toThrow(/long queue must be a whole number/);
  });
});
