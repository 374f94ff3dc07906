import type { SyncJobTypeInfo } from '@tillsync/protocol';
import { checkJobType, type SyncJobType } from './define-sync-job-type.js';
import { JobTypeError } from './errors.js';
import {
  DEFAULT_TYPE_SETTINGS,
  layerSettings,
  settingsInfo,
  type SettingsOverrides,
  type TypeSettings,
} from './settings.js';

/** The job types a process knows, by name. A type is checked when it is registered. */
export class JobTypeRegistry {
  readonly #types = new Map<string, SyncJobType>();
  /** Source table → the types it triggers, so a push that touches no such table costs nothing. */
  readonly #bySourceTable = new Map<string, SyncJobType[]>();

  constructor(types: Iterable<unknown> = []) {
    for (const type of types) this.register(type);
  }

  /**
   * Adds a type; refuses one whose controller is incomplete or whose name is taken, with a
   * {@link JobTypeError} naming it.
   */
  register(value: unknown): SyncJobType {
    const type = checkJobType(value);
    if (this.#types.has(type.name)) {
      throw new JobTypeError(
        type.name,
        `job type "${type.name}" is registered twice: job type names must be unique`,
      );
    }
    this.#types.set(type.name, type);
    if (type.triggers.length > 0) {
      this.#bySourceTable.set(type.sourceTable, [...(this.#bySourceTable.get(type.sourceTable) ?? []), type]);
    }
    return type;
  }

  get(name: string): SyncJobType | undefined {
    return this.#types.get(name);
  }

  list(): SyncJobType[] {
    return [...this.#types.values()].sort((a, b) => a.name.localeCompare(b.name));
  }

  /** The types that changes to this table enqueue by themselves. */
  triggeredBy(table: string): readonly SyncJobType[] {
    return this.#bySourceTable.get(table) ?? [];
  }

  /** Whether any type is enqueued by changes to some table. */
  get hasTriggers(): boolean {
    return this.#bySourceTable.size > 0;
  }
}

/** A type's settings now: the defaults of PROTOCOL.md §6, the type's code, then the owner's edits. */
export function effectiveSettings(type: SyncJobType, stored: SettingsOverrides | undefined): TypeSettings {
  return layerSettings(DEFAULT_TYPE_SETTINGS, type.defaults, stored);
}

/** A type as the API lists it. */
export function typeInfo(type: SyncJobType, settings: TypeSettings): SyncJobTypeInfo {
  return {
    name: type.name,
    sourceTable: type.sourceTable,
    targetTable: type.targetTable ?? null,
    mode: type.mode,
    triggers: [...type.triggers],
    ...settingsInfo(settings),
  };
}
