import type { BoundColumn, SyncedValue } from './adopt-plan.js';

/**
 * The conversions of a bound column, legacy value ↔ synced value (references are translated by the bridge,
 * through `_sync_ids`). A value that cannot be converted is a {@link ConversionError}: the row waits, and
 * the log says which table, row and column.
 */

/** A legacy value that does not convert. */
export class ConversionError extends Error {
  override readonly name = 'ConversionError';
}

/** The synced value of a legacy column's value. */
export function toSyncedValue(column: BoundColumn, raw: unknown): SyncedValue {
  if (raw === null || raw === undefined) return null;
  if (column.values) {
    const value = column.values.toSynced.get(shownValue(raw));
    if (value === undefined) throw new ConversionError(`${JSON.stringify(raw)} is not in the value table`);
    return value;
  }
  switch (column.convert) {
    case 'decimal-to-cents': {
      const amount = Number(raw);
      if (!Number.isFinite(amount)) throw new ConversionError(`${JSON.stringify(raw)} is not an amount`);
      return Math.round(amount * 100);
    }
    case 'datetime-to-iso':
      return isoTime(raw);
    case null:
      return plainValue(column, raw);
  }
}

/** The legacy value of a synced column's value. */
export function toLegacyValue(column: BoundColumn, value: SyncedValue): string | number | null {
  if (value === null) return null;
  if (column.values) {
    const legacy = column.values.toLegacy.get(value);
    if (legacy === undefined) throw new ConversionError(`${JSON.stringify(value)} is not in the value table`);
    return legacy;
  }
  switch (column.convert) {
    case 'decimal-to-cents':
      return Number(value) / 100;
    case 'datetime-to-iso': {
      // The form both engines read back as the same time: `YYYY-MM-DD HH:MM:SS[.mmm]`, UTC.
      const iso = new Date(String(value)).toISOString();
      const plain = iso.slice(0, 19).replace('T', ' ');
      return iso.slice(20, 23) === '000' ? plain : `${plain}.${iso.slice(20, 23)}`;
    }
    case null:
      return value;
  }
}

/** A value as text, for a value table's lookup and for messages. */
export function shownValue(raw: unknown): string {
  if (typeof raw === 'string') return raw;
  if (typeof raw === 'number' || typeof raw === 'bigint' || typeof raw === 'boolean') return String(raw);
  return JSON.stringify(raw) ?? 'undefined';
}

function plainValue(column: BoundColumn, raw: unknown): SyncedValue {
  switch (column.synced.type) {
    case 'text':
      if (typeof raw === 'string') return raw;
      if (typeof raw === 'number' || typeof raw === 'bigint') return String(raw);
      throw new ConversionError('is not text');
    case 'integer': {
      const value = Number(raw);
      if ((typeof raw === 'string' && raw.trim() === '') || !Number.isSafeInteger(value)) {
        throw new ConversionError(`${JSON.stringify(String(raw))} is not an integer`);
      }
      return value;
    }
    case 'real': {
      const value = Number(raw);
      if ((typeof raw === 'string' && raw.trim() === '') || !Number.isFinite(value)) {
        throw new ConversionError(`${JSON.stringify(String(raw))} is not a number`);
      }
      return value;
    }
  }
}

const NAIVE_TIME = /^\d{4}-\d{2}-\d{2}([ T]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?$/;

function isoTime(raw: unknown): string {
  let time: number;
  if (raw instanceof Date) time = raw.getTime();
  else if (typeof raw === 'string') {
    const text = raw.trim();
    // A time without a zone is taken as UTC, the same way on every till.
    time = Date.parse(
      NAIVE_TIME.test(text) ? `${text.replace(' ', 'T')}${text.length === 10 ? 'T00:00' : ''}Z` : text,
    );
  } else time = Number.NaN;
  if (Number.isNaN(time)) throw new ConversionError(`${JSON.stringify(raw)} is not a date and time`);
  return new Date(time).toISOString();
}
