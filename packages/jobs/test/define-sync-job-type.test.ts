import {
  DEFAULT_TYPE_SETTINGS,
  JobTypeError,
  JobTypeRegistry,
  allows,
  checkJobType,
  defineSyncJobType,
  diffValues,
  layerSettings,
  type SyncJobType,
} from '@tillsync/jobs';
import { describe, expect, it } from 'vitest';

const bypass = { name: 'b', sourceTable: 'products', mode: 'bypass', execute: () => null } as const;

describe('defineSyncJobType', () => {
  it('refuses an incomplete controller, naming the type and what is missing', () => {
    expect(() =>
      checkJobType({
        name: 'orders-erp',
        sourceTable: 'sales',
        mode: 'single',
        getTargetDocument: () => null,
      }),
    ).toThrow(
      'job type "orders-erp": its controller is incomplete: mode "single" needs getTargetDocument and updateTargetDoc; updateTargetDoc is missing',
    );
    expect(() => checkJobType({ name: 'm', sourceTable: 'sales', mode: 'multiple' })).toThrow(
      /getMultipleTargetDocuments and updateTargetDoc are missing/,
    );
    expect(() => checkJobType({ name: 'x', sourceTable: 'sales', mode: 'bypass' })).toThrow(
      /needs execute; execute is missing/,
    );
    expect(() => checkJobType({ ...bypass, getTargetDocument: () => null })).toThrow(
      /does not use getTargetDocument \(that is mode "single"\)/,
    );
    expect(() => checkJobType({ ...bypass, mode: 'sideways' })).toThrow(/mode must be one of/);
    expect(() => checkJobType({ ...bypass, name: 'has space' })).toThrow(JobTypeError);
    expect(() => checkJobType({ ...bypass, triggers: ['upsert'] })).toThrow(/triggers must list/);
    expect(() => checkJobType({ ...bypass, defaults: { timeoutSec: 0 } })).toThrow(
      /timeoutSec must be a number of seconds above 0/,
    );
    expect(() => checkJobType({ ...bypass, afterSync: 'nope' })).toThrow(/afterSync must be a function/);
    expect(() => checkJobType(null)).toThrow(/must be an object/);
  });

  it('freezes a checked type and a registry refuses a name twice', () => {
    const type = defineSyncJobType({ ...bypass, triggers: ['insert', 'insert'] });
    expect(Object.isFrozen(type)).toBe(true);
    expect(type.triggers).toEqual(['insert']);
    const registry = new JobTypeRegistry([type]);
    expect(registry.triggeredBy('products')).toEqual([type]);
    expect(() => registry.register({ ...bypass })).toThrow(
      'job type "b" is registered twice: job type names must be unique',
    );
    expect(() => new JobTypeRegistry([{ ...bypass, execute: undefined }])).toThrow(/execute is missing/);
  });

  it('types the controller by mode', () => {
    const single: SyncJobType = defineSyncJobType({
      name: 's',
      sourceTable: 'sales',
      targetTable: 'daily_sales',
      mode: 'single',
      getTargetDocument: () => ({ operation: 'update', id: 'x' }),
      updateTargetDoc: (_job, _source, target) => {
        target.values.sales_count = 1;
      },
    });
    expect(single.mode).toBe('single');
  });
});

describe('settings, status flow and diffs', () => {
  it('0 and false are values, later layers win, null and undefined fall through', () => {
    const settings = layerSettings(
      DEFAULT_TYPE_SETTINGS,
      { maxRetries: 5, verboseLogging: true },
      { maxRetries: 0, retryDelaySec: 0, verboseLogging: false },
    );
    expect(settings).toEqual({
      ...DEFAULT_TYPE_SETTINGS,
      maxRetries: 0,
      retryDelaySec: 0,
      verboseLogging: false,
    });
    // A caller's JavaScript may pass undefined for a setting it leaves alone: that is not a value.
    const leftAlone = { queue: undefined } as unknown as Parameters<typeof layerSettings>[1];
    expect(layerSettings(DEFAULT_TYPE_SETTINGS, leftAlone).queue).toBe('default');
  });

  it('owner calls follow the status flow', () => {
    expect(allows('cancel', 'Pending') && allows('cancel', 'Queued') && allows('cancel', 'Failed')).toBe(
      true,
    );
    expect(allows('cancel', 'Started') || allows('cancel', 'Finished')).toBe(false);
    expect(allows('start', 'Pending') && !allows('start', 'Queued')).toBe(true);
    expect(allows('retry', 'Failed') && !allows('retry', 'Canceled')).toBe(true);
  });

  it('diffs inserts, updates and deletes per field', () => {
    expect(diffValues(null, { a: 1, b: null })).toEqual({ a: { old: null, new: 1 } });
    expect(diffValues({ a: 1, b: 'x' }, { a: 1, b: 'y' })).toEqual({ b: { old: 'x', new: 'y' } });
    expect(diffValues({ a: 1 }, null)).toEqual({ a: { old: 1, new: null } });
    expect(diffValues({ id: 'x', a: 1 }, { id: 'y', a: 1 })).toEqual({});
  });
});
