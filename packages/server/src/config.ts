import { CompiledSchema, SHOP_SCHEMA, type SyncSchema } from '@tillsync/protocol';
import type { RateLimit } from './storage/rate-limiter.js';
import { resolveJobsConfig, type ServerJobsConfig, type ServerJobsOptions } from './jobs/server-jobs.js';

/** What a caller passes to {@link startServer}. */
export interface ServerOptions {
  /**
   * The SQLite file of the embedded database.
   * @defaultValue `./data/cloud.db`
   */
  readonly dbPath?: string;
  /** A `postgres://` URL: the server keeps its data in PostgreSQL instead of the SQLite file. */
  readonly databaseUrl?: string;
  /** @defaultValue 8787 (0 picks a free port) */
  readonly port?: number;
  /** @defaultValue `127.0.0.1` */
  readonly host?: string;
  /**
   * The synced tables.
   * @defaultValue the built-in shop schema (PROTOCOL.md §3)
   */
  readonly schema?: SyncSchema;
  /**
   * Serve `schema` even when it is not additive to the one this database served last (a column or table
   * removed or renamed, a type changed, a new required column without a default...): the stored rows are
   * brought to it and every device takes a fresh snapshot, keeping its unsent changes where they still fit.
   * Without it such a schema is refused at start (`docs/changing-the-schema.md`).
   * @defaultValue false
   */
  readonly acceptBreakingSchema?: boolean;
  /** With `adminPassword`, creates a tenant with this owner when the database has none. */
  readonly adminEmail?: string;
  readonly adminPassword?: string;
  /** @defaultValue 3600 */
  readonly accessTokenTtlSec?: number;
  /** @defaultValue 90 days */
  readonly refreshTokenTtlSec?: number;
  /** @defaultValue 12 hours */
  readonly ownerSessionTtlSec?: number;
  /** @defaultValue 10 MB */
  readonly bodyLimitBytes?: number;
  /** How long tombstones are kept; a cursor older than that must resync. @defaultValue 90 */
  readonly tombstoneRetentionDays?: number;
  /**
   * Limits on login and pairing attempts, per client address and per email.
   * @defaultValue 30 logins per minute per address, 10 per 15 minutes per email, 20 pairings per minute per address
   */
  readonly rateLimits?: Partial<RateLimits>;
  /** Log requests and events as JSON lines on stdout. @defaultValue true */
  readonly logger?: boolean;
  /** The clock, for tests. @defaultValue `Date.now` */
  readonly now?: () => number;
  /** Sync jobs: the shop's own types, BullMQ, the catalog webhook (PROTOCOL.md §6). @defaultValue run in-process */
  readonly jobs?: ServerJobsOptions;
  /**
   * A folder with the built owner's dashboard (`apps/web/dist/dashboard`): served for every GET outside
   * `/api/`, with its `index.html` for the app's own paths. The server knows no page itself; the command
   * line passes the folder.
   * @defaultValue none: the server answers the API only
   */
  readonly webRoot?: string;
  /**
   * The demo's switch that takes the cloud offline for its devices and back (`/api/demo/cloud`).
   * @defaultValue none: no such route
   */
  readonly demoCloud?: DemoCloudSwitch;
}

/** The resolved, frozen form of {@link ServerOptions}. */
export interface ServerConfig {
  readonly dbPath: string;
  readonly databaseUrl: string | null;
  readonly port: number;
  readonly host: string;
  readonly schema: CompiledSchema;
  readonly acceptBreakingSchema: boolean;
  readonly adminEmail: string | null;
  readonly adminPassword: string | null;
  readonly accessTokenTtlMs: number;
  readonly refreshTokenTtlMs: number;
  readonly ownerSessionTtlMs: number;
  readonly pairingCodeTtlMs: number;
  readonly bodyLimitBytes: number;
  readonly tombstoneRetentionMs: number;
  readonly rateLimits: RateLimits;
  readonly logger: boolean;
  readonly now: () => number;
  readonly jobs: ServerJobsConfig;
  readonly webRoot: string | null;
  readonly demoCloud: DemoCloudSwitch | null;
}

const DAY_MS = 24 * 60 * 60 * 1000;

/** The limits on guessing: logins and pairings. */
export interface RateLimits {
  readonly loginPerAddress: RateLimit;
  readonly loginPerEmail: RateLimit;
  readonly pairPerAddress: RateLimit;
}

const DEFAULT_RATE_LIMITS: RateLimits = {
  loginPerAddress: { max: 30, windowMs: 60_000 },
  loginPerEmail: { max: 10, windowMs: 15 * 60_000 },
  pairPerAddress: { max: 20, windowMs: 60_000 },
};

export function resolveServerConfig(options: ServerOptions): ServerConfig {
  return Object.freeze({
    dbPath: options.dbPath ?? './data/cloud.db',
    databaseUrl: options.databaseUrl ?? null,
    port: options.port ?? 8787,
    host: options.host ?? '127.0.0.1',
    schema: new CompiledSchema(options.schema ?? SHOP_SCHEMA),
    acceptBreakingSchema: options.acceptBreakingSchema ?? false,
    adminEmail: options.adminEmail ?? null,
    adminPassword: options.adminPassword ?? null,
    accessTokenTtlMs: (options.accessTokenTtlSec ?? 3600) * 1000,
    refreshTokenTtlMs: (options.refreshTokenTtlSec ?? 90 * 24 * 3600) * 1000,
    ownerSessionTtlMs: (options.ownerSessionTtlSec ?? 12 * 3600) * 1000,
    pairingCodeTtlMs: 15 * 60 * 1000,
    bodyLimitBytes: options.bodyLimitBytes ?? 10 * 1024 * 1024,
    tombstoneRetentionMs: (options.tombstoneRetentionDays ?? 90) * DAY_MS,
    rateLimits: Object.freeze({ ...DEFAULT_RATE_LIMITS, ...options.rateLimits }),
    logger: options.logger ?? true,
    now: options.now ?? Date.now,
    jobs: resolveJobsConfig(options.jobs),
    webRoot: options.webRoot ?? null,
    demoCloud: options.demoCloud ?? null,
  });
}

/**
 * The demo's cloud switch (`tillsync demo` only): what the devices reach of this server, which the demo
 * routes through a link it can cut. The server holds no state of it; the demo passes the switch.
 */
export interface DemoCloudSwitch {
  /** Whether the devices reach the cloud now. */
  online(): boolean;
  /** Cuts the devices off (every open connection closed, new ones refused) or lets them through again. */
  setOnline(online: boolean): Promise<void>;
}
