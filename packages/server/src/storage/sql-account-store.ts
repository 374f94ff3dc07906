import { randomUUID } from 'node:crypto';
import { sql, type Kysely, type Selectable } from 'kysely';
import type {
  AccountStore,
  DeviceRecord,
  DeviceScope,
  DeviceSeen,
  DeviceTokenRecord,
  OwnerRecord,
  PairDeviceInput,
  RotateRefreshTokenInput,
  StoreRecord,
  TenantRecord,
  TokenPairInput,
} from './account-store.js';
import type { Database } from './database.js';
import { jsonElements, type SqlEngine } from './sql-engine.js';

/** Accounts on any {@link SqlEngine}. */
export class SqlAccountStore implements AccountStore {
  readonly #engine: SqlEngine;

  constructor(engine: SqlEngine) {
    this.#engine = engine;
  }

  get #db(): Kysely<Database> {
    return this.#engine.db;
  }

  createTenant(input: {
    name: string;
    email: string;
    passwordHash: string;
  }): Promise<{ tenantId: string; ownerId: string }> {
    const tenantId = randomUUID();
    const ownerId = randomUUID();
    const createdAt = new Date().toISOString();
    const storeId = randomUUID();
    return this.#engine.write(async (trx) => {
      await trx
        .insertInto('tenants')
        .values({
          id: tenantId,
          name: input.name,
          created_at: createdAt,
          last_seq: 0,
          purged_seq: 0,
          first_store_id: storeId,
        })
        .execute();
      await trx
        .insertInto('stores')
        .values({ id: storeId, tenant_id: tenantId, name: input.name, created_at: createdAt })
        .execute();
      await trx
        .insertInto('owners')
        .values({
          id: ownerId,
          tenant_id: tenantId,
          email: input.email.toLowerCase(),
          password_hash: input.passwordHash,
          created_at: createdAt,
        })
        .execute();
      return { tenantId, ownerId };
    });
  }

  async countTenants(): Promise<number> {
    const row = await this.#db
      .selectFrom('tenants')
      .select((eb) => eb.fn.countAll().as('count'))
      .executeTakeFirstOrThrow();
    return Number(row.count);
  }

  async listTenants(): Promise<TenantRecord[]> {
    const tenants = await this.#db
      .selectFrom('tenants')
      .select(['id', 'name', 'created_at'])
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    const owners = await this.#db
      .selectFrom('owners')
      .select(['tenant_id', 'email'])
      .orderBy('email')
      .execute();
    const devices = await this.#db
      .selectFrom('devices')
      .select((eb) => ['tenant_id', eb.fn.countAll().as('count')])
      .where('revoked_at', 'is', null)
      .groupBy('tenant_id')
      .execute();
    return tenants.map((tenant) => ({
      tenantId: tenant.id,
      name: tenant.name,
      createdAt: tenant.created_at,
      owners: owners.filter((owner) => owner.tenant_id === tenant.id).map((owner) => owner.email),
      devices: Number(devices.find((row) => row.tenant_id === tenant.id)?.count ?? 0),
    }));
  }

  async tenantExists(tenantId: string): Promise<boolean> {
    const row = await this.#db
      .selectFrom('tenants')
      .select('id')
      .where('id', '=', tenantId)
      .executeTakeFirst();
    return row !== undefined;
  }

  async findOwnerByEmail(email: string): Promise<OwnerRecord | null> {
    const row = await this.#db
      .selectFrom('owners')
      .selectAll()
      .where('email', '=', email.toLowerCase())
      .executeTakeFirst();
    return row
      ? { id: row.id, tenantId: row.tenant_id, email: row.email, passwordHash: row.password_hash }
      : null;
  }

  async createOwnerSession(input: {
    tokenHash: string;
    ownerId: string;
    tenantId: string;
    expiresAt: number;
  }): Promise<void> {
    await this.#db
      .insertInto('owner_sessions')
      .values({
        token_hash: input.tokenHash,
        owner_id: input.ownerId,
        tenant_id: input.tenantId,
        expires_at: input.expiresAt,
        created_at: new Date().toISOString(),
      })
      .execute();
  }

  async findOwnerSession(
    tokenHash: string,
  ): Promise<{ ownerId: string; tenantId: string; expiresAt: number } | null> {
    const row = await this.#db
      .selectFrom('owner_sessions')
      .selectAll()
      .where('token_hash', '=', tokenHash)
      .executeTakeFirst();
    return row ? { ownerId: row.owner_id, tenantId: row.tenant_id, expiresAt: Number(row.expires_at) } : null;
  }

  async deleteOwnerSession(tokenHash: string): Promise<void> {
    await this.#db.deleteFrom('owner_sessions').where('token_hash', '=', tokenHash).execute();
  }

  async createPairingCode(input: {
    codeHash: string;
    tenantId: string;
    storeId?: string;
    expiresAt: number;
  }): Promise<void> {
    await this.#db
      .insertInto('pairing_codes')
      .values({
        code_hash: input.codeHash,
        tenant_id: input.tenantId,
        store_id: input.storeId ?? null,
        expires_at: input.expiresAt,
        used_at: null,
        created_at: new Date().toISOString(),
      })
      .execute();
  }

  pairDevice(input: PairDeviceInput): Promise<{ tenantId: string; storeId: string } | null> {
    return this.#engine.write(async (trx) => {
      const code = await trx
        .updateTable('pairing_codes')
        .set({ used_at: input.now })
        .where('code_hash', '=', input.codeHash)
        .where('used_at', 'is', null)
        .where('expires_at', '>', input.now)
        .returning(['tenant_id', 'store_id'])
        .executeTakeFirst();
      if (!code) return null;
      const storeId = code.store_id ?? (await firstStoreOf(trx, code.tenant_id));
      const createdAt = new Date(input.now).toISOString();
      await trx
        .insertInto('devices')
        .values({
          id: input.deviceId,
          tenant_id: code.tenant_id,
          name: input.name,
          platform: input.platform,
          app_version: input.appVersion,
          last_seen_at: createdAt,
          pending_changes: null,
          revoked_at: null,
          schema_version: null,
          store_id: storeId,
          scope_seq: 0,
          created_at: createdAt,
        })
        .execute();
      await insertTokenPair(trx, {
        deviceId: input.deviceId,
        tenantId: code.tenant_id,
        familyId: randomUUID(),
        tokens: input.tokens,
      });
      return { tenantId: code.tenant_id, storeId };
    });
  }

  async findDeviceToken(tokenHash: string): Promise<DeviceTokenRecord | null> {
    // Every device call makes this lookup: written as SQL text, which costs Kysely far less to compile
    // than the same query built up from its query builder.
    const { rows } = await sql<DeviceTokenRow>`
      select t.device_id, t.tenant_id, t.kind, t.family_id, t.expires_at, t.used_at, d.revoked_at
      from device_tokens t join devices d on d.id = t.device_id
      where t.token_hash = ${tokenHash}`.execute(this.#db);
    const row = rows[0];
    return row
      ? {
          deviceId: row.device_id,
          tenantId: row.tenant_id,
          kind: row.kind,
          familyId: row.family_id,
          expiresAt: Number(row.expires_at),
          usedAt: row.used_at === null ? null : Number(row.used_at),
          deviceRevokedAt: row.revoked_at,
        }
      : null;
  }

  rotateRefreshToken(input: RotateRefreshTokenInput): Promise<boolean> {
    return this.#engine.write(async (trx) => {
      const spent = await trx
        .updateTable('device_tokens')
        .set({ used_at: input.now })
        .where('token_hash', '=', input.oldHash)
        .where('used_at', 'is', null)
        .executeTakeFirst();
      if (Number(spent.numUpdatedRows) !== 1) return false;
      // The access tokens issued before stop working: a device holds one pair at a time.
      await trx
        .deleteFrom('device_tokens')
        .where('family_id', '=', input.familyId)
        .where('kind', '=', 'access')
        .execute();
      await insertTokenPair(trx, input);
      return true;
    });
  }

  async revokeTokenFamily(familyId: string): Promise<void> {
    await this.#db.deleteFrom('device_tokens').where('family_id', '=', familyId).execute();
  }

  async markAccessTokenUsed(tokenHash: string, now: number): Promise<void> {
    // The first call of every device with a new access token makes it: SQL text, as findDeviceToken.
    await sql`update device_tokens set used_at = ${now} where token_hash = ${tokenHash} and used_at is null`.execute(
      this.#db,
    );
  }

  reissueUnusedPair(input: TokenPairInput): Promise<boolean> {
    return this.#engine.write(async (trx) => {
      const used = await trx
        .selectFrom('device_tokens')
        .select('token_hash')
        .where('family_id', '=', input.familyId)
        .where('kind', '=', 'access')
        .where('used_at', 'is not', null)
        .executeTakeFirst();
      if (used) return false;
      await trx
        .deleteFrom('device_tokens')
        .where('family_id', '=', input.familyId)
        .where('used_at', 'is', null)
        .execute();
      await insertTokenPair(trx, input);
      return true;
    });
  }

  async listDevices(tenantId: string): Promise<DeviceRecord[]> {
    const rows = await this.#db
      .selectFrom('devices')
      .selectAll()
      .where('tenant_id', '=', tenantId)
      .orderBy('created_at')
      .execute();
    return rows.map(toDeviceRecord);
  }

  async listStores(tenantId: string): Promise<StoreRecord[]> {
    const rows = await this.#db
      .selectFrom('stores')
      .leftJoin('devices', (join) =>
        join
          .onRef('devices.store_id', '=', 'stores.id')
          .onRef('devices.tenant_id', '=', 'stores.tenant_id')
          .on('devices.revoked_at', 'is', null),
      )
      .select(['stores.id', 'stores.name', (eb) => eb.fn.count('devices.id').as('devices')])
      .where('stores.tenant_id', '=', tenantId)
      .groupBy(['stores.id', 'stores.name', 'stores.created_at'])
      .orderBy('stores.created_at')
      .orderBy('stores.id')
      .execute();
    return rows.map((row) => ({ id: row.id, name: row.name, devices: Number(row.devices) }));
  }

  async createStore(tenantId: string, name: string): Promise<StoreRecord> {
    const id = randomUUID();
    await this.#db
      .insertInto('stores')
      .values({ id, tenant_id: tenantId, name, created_at: new Date().toISOString() })
      .execute();
    return { id, name, devices: 0 };
  }

  async findStore(tenantId: string, storeId: string | undefined): Promise<StoreRecord | null> {
    const store = await this.#db
      .selectFrom('stores')
      .select(['id', 'name'])
      .where('tenant_id', '=', tenantId)
      .$call((query) =>
        storeId === undefined
          ? query.where('id', '=', (eb) =>
              eb.selectFrom('tenants').select('first_store_id').where('tenants.id', '=', tenantId),
            )
          : query.where('id', '=', storeId),
      )
      .executeTakeFirst();
    return store ? { id: store.id, name: store.name, devices: 0 } : null;
  }

  moveDevice(tenantId: string, deviceId: string, storeId: string): Promise<DeviceRecord | null> {
    return this.#engine.write(async (trx) => {
      // Under the tenant's lock no push is half done. The move takes a sequence number of its own: every
      // cursor handed out before it is below it (and must resync), every page read after it is at or past it
      // or carries it as its snapshot's floor; two moves in a row get two numbers.
      await this.#engine.lockTenant(trx, tenantId);
      const device = await trx
        .selectFrom('devices')
        .select('store_id')
        .where('tenant_id', '=', tenantId)
        .where('id', '=', deviceId)
        .executeTakeFirst();
      if (!device) return null;
      if (device.store_id !== storeId) {
        const tenant = await trx
          .updateTable('tenants')
          .set((eb) => ({ last_seq: eb('last_seq', '+', 1) }))
          .where('id', '=', tenantId)
          .returning('last_seq')
          .executeTakeFirstOrThrow();
        await trx
          .updateTable('devices')
          .set({ store_id: storeId, scope_seq: Number(tenant.last_seq) })
          .where('id', '=', deviceId)
          .execute();
      }
      const moved = await trx
        .selectFrom('devices')
        .selectAll()
        .where('id', '=', deviceId)
        .executeTakeFirstOrThrow();
      return toDeviceRecord(moved);
    });
  }

  async deviceScope(deviceId: string): Promise<DeviceScope | null> {
    const row = await this.#db
      .selectFrom('devices')
      .select(['store_id', 'scope_seq'])
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return row?.store_id ? { storeId: row.store_id, scopeSeq: Number(row.scope_seq) } : null;
  }

  async revokeDevice(tenantId: string, deviceId: string, at: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('devices')
      .set((eb) => ({ revoked_at: eb.fn.coalesce('revoked_at', eb.val(at)) }))
      .where('tenant_id', '=', tenantId)
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  async renameDevice(tenantId: string, deviceId: string, name: string): Promise<boolean> {
    const result = await this.#db
      .updateTable('devices')
      .set({ name })
      .where('tenant_id', '=', tenantId)
      .where('id', '=', deviceId)
      .executeTakeFirst();
    return Number(result.numUpdatedRows) === 1;
  }

  touchDevice(deviceId: string, seen: DeviceSeen): Promise<void> {
    return this.touchDevices([{ deviceId, ...seen }]);
  }

  async touchDevices(sightings: ReadonlyArray<DeviceSeen & { readonly deviceId: string }>): Promise<void> {
    if (sightings.length === 0) return;
    const elements = JSON.stringify(
      sightings.map((seen) => [
        seen.deviceId,
        seen.at,
        seen.appVersion,
        seen.pendingChanges,
        seen.schemaVersion ?? null,
      ]),
    );
    // One statement for them all, from one bound JSON array (see jsonElements). A call older than the one
    // stored (noted by another process that wrote first) changes nothing: "last seen" never moves back.
    await sql`
      update devices set last_seen_at = e.value ->> 1,
        app_version = coalesce(e.value ->> 2, devices.app_version),
        pending_changes = coalesce(cast(e.value ->> 3 as integer), devices.pending_changes),
        schema_version = coalesce(cast(e.value ->> 4 as integer), devices.schema_version)
      from ${jsonElements(this.#db, elements)}
      where devices.id = e.value ->> 0
        and (devices.last_seen_at is null or devices.last_seen_at < e.value ->> 1)`.execute(this.#db);
  }
}

/** The columns {@link SqlAccountStore.findDeviceToken} reads. */
type DeviceTokenRow = Pick<
  Database['device_tokens'],
  'device_id' | 'tenant_id' | 'kind' | 'family_id' | 'expires_at' | 'used_at'
> &
  Pick<Database['devices'], 'revoked_at'>;

function toDeviceRecord(row: Selectable<Database['devices']>): DeviceRecord {
  return {
    id: row.id,
    tenantId: row.tenant_id,
    name: row.name,
    platform: row.platform,
    appVersion: row.app_version,
    lastSeenAt: row.last_seen_at,
    pendingChanges: row.pending_changes === null ? null : Number(row.pending_changes),
    revokedAt: row.revoked_at,
    schemaVersion: row.schema_version === null ? null : Number(row.schema_version),
    storeId: row.store_id ?? '',
  };
}

/** The tenant's first store: where a device paired with a code made before stores goes. */
async function firstStoreOf(trx: Kysely<Database>, tenantId: string): Promise<string> {
  const tenant = await trx
    .selectFrom('tenants')
    .select('first_store_id')
    .where('id', '=', tenantId)
    .executeTakeFirstOrThrow();
  if (tenant.first_store_id === null) throw new Error(`tenant ${tenantId} has no first store`);
  return tenant.first_store_id;
}

async function insertTokenPair(trx: Kysely<Database>, input: TokenPairInput): Promise<void> {
  const createdAt = new Date().toISOString();
  const common = {
    device_id: input.deviceId,
    tenant_id: input.tenantId,
    family_id: input.familyId,
    used_at: null,
    created_at: createdAt,
  };
  await trx
    .insertInto('device_tokens')
    .values([
      {
        ...common,
        token_hash: input.tokens.accessHash,
        kind: 'access',
        expires_at: input.tokens.accessExpiresAt,
      },
      {
        ...common,
        token_hash: input.tokens.refreshHash,
        kind: 'refresh',
        expires_at: input.tokens.refreshExpiresAt,
      },
    ])
    .execute();
}
