// A tenant's settings of its job types (the owner's overrides of a type's defaults).
import type { Kysely } from 'kysely';
import type { SettingsOverrides } from '@tillsync/jobs';
import type { JobsDatabase } from '../job-tables.js';

/** The tenant's settings of each job type, by type name. */
export async function readTypeSettings(
  db: Kysely<JobsDatabase>,
  tenantId: string,
): Promise<Map<string, SettingsOverrides>> {
  const rows = await db
    .selectFrom('sync_job_type_settings')
    .select(['name', 'settings'])
    .where('tenant_id', '=', tenantId)
    .execute();
  return new Map(rows.map((row) => [row.name, JSON.parse(row.settings) as SettingsOverrides]));
}

/** Saves the tenant's settings of one job type, replacing what was saved before. */
export async function saveTypeSettings(
  db: Kysely<JobsDatabase>,
  tenantId: string,
  name: string,
  settings: SettingsOverrides,
  now: number,
): Promise<void> {
  const row = { tenant_id: tenantId, name, settings: JSON.stringify(settings), updated_at: now };
  await db
    .insertInto('sync_job_type_settings')
    .values(row)
    .onConflict((conflict) =>
      conflict
        .columns(['tenant_id', 'name'])
        .doUpdateSet({ settings: row.settings, updated_at: row.updated_at }),
    )
    .execute();
}
