import fs from 'node:fs';
import type * as Protocol from '@tillsync/protocol';
import type { SyncSchema } from '@tillsync/protocol';
import type { Accounts, RateLimit, RateLimits, ServerOptions, Storage } from '@tillsync/server';
import type { Command } from 'commander';
import {
  DATABASE_SETTINGS,
  addDatabaseOptions,
  databaseFrom,
  withServerDatabase,
} from './server-database.js';
import { SERVE_JOB_SETTINGS, serveJobOptions } from './job-commands.js';
import { integer, onOff, optionFor, readSetting, text, type Setting } from './settings.js';
import { untilStopSignal } from './stop-signal.js';
import { UsageError } from './usage-error.js';
import { webAssetsDir } from './web-assets.js';

const SERVE_SETTINGS = {
  ...DATABASE_SETTINGS,
  port: {
    flag: '--port <port>',
    env: 'TILLSYNC_PORT',
    description: 'the port to listen on (default 8787)',
    parse: integer(0, 65535),
  },
  host: {
    flag: '--host <host>',
    env: 'TILLSYNC_HOST',
    description: 'the address to listen on (default 127.0.0.1)',
    parse: text,
  },
  schema: {
    flag: '--schema <file>',
    env: 'TILLSYNC_SCHEMA',
    description:
      "a JSON file with the shop's own schema, or `chain` for the built-in schema of a chain of stores (docs/stores.md) (default: the built-in shop schema); to change it, raise its version: additive changes reach devices at their next cycle, others are refused (docs/changing-the-schema.md)",
    parse: text,
  },
  acceptBreakingSchema: {
    flag: '--accept-breaking-schema',
    env: 'TILLSYNC_ACCEPT_BREAKING_SCHEMA',
    description:
      'serve a --schema that is not additive to the one served last (a column or table removed or renamed, a type changed, a new required column without a default): every device then takes a fresh snapshot, keeping its unsent changes where they still fit',
    parse: onOff,
  },
  accessTokenTtl: {
    flag: '--access-token-ttl <seconds>',
    env: 'TILLSYNC_ACCESS_TOKEN_TTL',
    description: "how long a device's access token lives (default 3600)",
    parse: integer(1, 365 * 24 * 3600),
  },
  bodyLimit: {
    flag: '--body-limit <bytes>',
    env: 'TILLSYNC_BODY_LIMIT',
    description: 'the largest request body accepted (default 10485760)',
    parse: integer(1024, 1024 * 1024 * 1024),
  },
  tombstoneRetentionDays: {
    flag: '--tombstone-retention-days <days>',
    env: 'TILLSYNC_TOMBSTONE_RETENTION_DAYS',
    description: 'how long deletions are kept for devices to pull (default 90)',
    parse: integer(0, 36500),
  },
  adminEmail: {
    flag: '--admin-email <email>',
    env: 'TILLSYNC_ADMIN_EMAIL',
    description: 'with --admin-password: the owner created on an empty database',
    parse: text,
  },
  adminPassword: {
    flag: '--admin-password <password>',
    env: 'TILLSYNC_ADMIN_PASSWORD',
    description: 'the password of that owner',
    parse: text,
  },
  loginRateLimit: {
    flag: '--login-rate-limit <n/secs>',
    env: 'TILLSYNC_LOGIN_RATE_LIMIT',
    description: 'owner logins allowed from one address per window of seconds, e.g. 30/60 (default 30/60)',
    parse: rateLimit,
  },
  loginEmailRateLimit: {
    flag: '--login-email-rate-limit <n/secs>',
    env: 'TILLSYNC_LOGIN_EMAIL_RATE_LIMIT',
    description: 'failed logins allowed for one email per window of seconds (default 10/900)',
    parse: rateLimit,
  },
  pairRateLimit: {
    flag: '--pair-rate-limit <n/secs>',
    env: 'TILLSYNC_PAIR_RATE_LIMIT',
    description: 'device pairings allowed from one address per window of seconds (default 20/60)',
    parse: rateLimit,
  },
  ...SERVE_JOB_SETTINGS,
} satisfies Record<string, Setting<unknown>>;

/** Reads a limit written `COUNT/SECONDS`: at most COUNT hits in each window of SECONDS. */
function rateLimit(value: string, name: string): RateLimit {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(value);
  const max = Number(match?.[1]);
  const seconds = Number(match?.[2]);
  if (!match || max < 1 || max > 1_000_000_000 || seconds < 1 || seconds > 7 * 24 * 3600) {
    throw new UsageError(
      `${name} must be COUNT/SECONDS, e.g. 20/60 (count 1 to 1000000000, seconds 1 to 604800), not "${value}"`,
    );
  }
  return { max, windowMs: seconds * 1000 };
}

/** `tillsync serve` and `tillsync admin`: the cloud side (PROTOCOL.md §4). */
export function registerServerCommands(program: Command): void {
  const serve = program
    .command('serve')
    .description('run the cloud server (prints its URL when it is ready)');
  for (const setting of Object.values(SERVE_SETTINGS)) serve.addOption(optionFor(setting));
  serve.action(async (flags: Record<string, unknown>) => {
    const protocol = await import('@tillsync/protocol');
    const options = serveOptions(protocol, flags);
    const { startServer } = await import('@tillsync/server');
    let server: Awaited<ReturnType<typeof startServer>>;
    try {
      server = await startServer({ ...options, jobs: await serveJobOptions(flags) });
    } catch (error) {
      // The schema given cannot be served on this database: the command was called wrongly, nothing changed.
      if (error instanceof protocol.SchemaChangeError)
        throw new UsageError(`--schema ${settingsSchemaName(flags)}: ${error.message}`);
      throw error;
    }
    // Listening for the stop before saying it is ready: whoever waits for the line may stop it at once.
    const stopAsked = untilStopSignal();
    process.stdout.write(`tillsync serve: listening on ${server.url}\n`);
    await stopAsked;
    await server.close();
  });

  const admin = program
    .command('admin')
    .description("manage tenants and pairing codes in the server's database (works while the server runs)");
  addDatabaseOptions(
    admin
      .command('create-tenant')
      .description('create a tenant (a shop) with its owner; prints {"tenantId", "ownerId", "email"}'),
  )
    .requiredOption('--name <name>', "the shop's name")
    .requiredOption('--email <email>', "the owner's email, used to log in")
    .requiredOption('--password <password>', "the owner's password (at least 10 characters)")
    .action(async (flags: { name: string; email: string; password: string } & Record<string, unknown>) => {
      await withServerDatabase(databaseFrom(flags, { mustExist: false }), async (storage) => {
        const accounts = await accountsOn(storage);
        const created = await accounts.createTenant({
          name: flags.name,
          email: flags.email,
          password: flags.password,
        });
        printJson({ tenantId: created.tenantId, ownerId: created.ownerId, email: flags.email.toLowerCase() });
      });
    });
  addDatabaseOptions(
    admin
      .command('tenants')
      .description(
        'list the tenants (shops), oldest first, to find the id that `admin pairing-code --tenant` takes; ' +
          'prints {"tenants": [{"tenantId", "name", "createdAt", "owners", "devices"}]}',
      ),
  ).action(async (flags: Record<string, unknown>) => {
    await withServerDatabase(databaseFrom(flags, { mustExist: true }), async (storage) => {
      printJson({ tenants: await storage.accounts.listTenants() });
    });
  });
  addDatabaseOptions(
    admin
      .command('pairing-code')
      .description(
        'make a one-time pairing code for a tenant (valid 15 minutes); prints {"code", "expiresAt"}',
      ),
  )
    .requiredOption('--tenant <id>', 'the tenant id (`tillsync admin tenants` lists them)')
    .action(async (flags: { tenant: string } & Record<string, unknown>) => {
      await withServerDatabase(databaseFrom(flags, { mustExist: true }), async (storage) => {
        if (!(await storage.accounts.tenantExists(flags.tenant))) {
          throw new UsageError(
            `there is no tenant ${flags.tenant} in this database; \`tillsync admin tenants\` lists them`,
          );
        }
        const accounts = await accountsOn(storage);
        printJson(await accounts.createPairingCode(flags.tenant));
      });
    });
}

function serveOptions(protocol: typeof Protocol, flags: Record<string, unknown>): ServerOptions {
  const settings = Object.fromEntries(
    Object.entries(SERVE_SETTINGS).map(([name, setting]) => [
      name,
      readSetting(setting as Setting<unknown>, flags),
    ]),
  ) as { [K in keyof typeof SERVE_SETTINGS]: ReturnType<(typeof SERVE_SETTINGS)[K]['parse']> | undefined };
  if (settings.db !== undefined && settings.databaseUrl !== undefined) {
    throw new UsageError('give --db or --database-url, not both');
  }
  const options: { -readonly [K in keyof ServerOptions]: ServerOptions[K] } = { logger: true };
  if (settings.db !== undefined) options.dbPath = settings.db;
  if (settings.databaseUrl !== undefined) options.databaseUrl = settings.databaseUrl;
  if (settings.port !== undefined) options.port = settings.port;
  if (settings.host !== undefined) options.host = settings.host;
  if (settings.schema !== undefined) options.schema = readSchemaFile(protocol, settings.schema);
  if (settings.acceptBreakingSchema !== undefined)
    options.acceptBreakingSchema = settings.acceptBreakingSchema;
  if (settings.accessTokenTtl !== undefined) options.accessTokenTtlSec = settings.accessTokenTtl;
  if (settings.bodyLimit !== undefined) options.bodyLimitBytes = settings.bodyLimit;
  if (settings.tombstoneRetentionDays !== undefined)
    options.tombstoneRetentionDays = settings.tombstoneRetentionDays;
  if (settings.adminEmail !== undefined) options.adminEmail = settings.adminEmail;
  if (settings.adminPassword !== undefined) options.adminPassword = settings.adminPassword;
  const rateLimits: { -readonly [K in keyof RateLimits]?: RateLimit } = {};
  if (settings.loginRateLimit !== undefined) rateLimits.loginPerAddress = settings.loginRateLimit;
  if (settings.loginEmailRateLimit !== undefined) rateLimits.loginPerEmail = settings.loginEmailRateLimit;
  if (settings.pairRateLimit !== undefined) rateLimits.pairPerAddress = settings.pairRateLimit;
  if (Object.keys(rateLimits).length > 0) options.rateLimits = rateLimits;
  const dashboard = webAssetsDir('dashboard');
  if (dashboard !== null) options.webRoot = dashboard;
  return options;
}

/** The schema file as named by the flag or its variable; the built-in schema when none is. */
function settingsSchemaName(flags: Record<string, unknown>): string {
  return readSetting(SERVE_SETTINGS.schema, flags) ?? '(the built-in shop schema)';
}

function readSchemaFile(
  { parseSchema, SchemaError, BUILT_IN_SCHEMAS }: typeof Protocol,
  file: string,
): SyncSchema {
  // A built-in schema by its name; a file of that name is named with a path (`./chain`).
  const builtIn = BUILT_IN_SCHEMAS[file];
  if (builtIn !== undefined) return builtIn;
  let parsed: unknown;
  try {
    parsed = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (error) {
    const reason =
      (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'there is no such file' : (error as Error).message;
    throw new UsageError(`--schema ${file}: ${reason}`);
  }
  try {
    return parseSchema(parsed);
  } catch (error) {
    if (error instanceof SchemaError) throw new UsageError(`--schema ${file}: ${error.problems.join('; ')}`);
    throw error;
  }
}

async function accountsOn(storage: Storage): Promise<Accounts> {
  const { Accounts, resolveServerConfig } = await import('@tillsync/server');
  return new Accounts(storage.accounts, resolveServerConfig({}));
}

function printJson(value: unknown): void {
  process.stdout.write(`${JSON.stringify(value)}\n`);
}
