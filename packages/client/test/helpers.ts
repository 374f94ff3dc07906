import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CompiledSchema, SHOP_SCHEMA, type SyncSchema } from '@tillsync/protocol';
import type Database from 'better-sqlite3';
import { afterEach } from 'vitest';
import { PullApplier, type ApplierParts } from '../src/apply-pull.js';
import { foldCaptured } from '../src/capture/fold.js';
import { ConflictLog } from '../src/conflicts.js';
import { LocalClock } from '../src/local-clock.js';
import { applyLocalSchema } from '../src/local-schema.js';
import { LocalStore } from '../src/local-store.js';
import { LostEdits } from '../src/lost-edits.js';
import { Outbox } from '../src/outbox.js';
import { ServerRows } from '../src/server-rows.js';
import { SyncedTables } from '../src/synced-tables.js';

const folders: string[] = [];
const closers: (() => unknown)[] = [];

afterEach(async () => {
  while (closers.length > 0) await closers.pop()?.();
  while (folders.length > 0) fs.rmSync(folders.pop() ?? '', { recursive: true, force: true });
});

/** A fresh temp folder for one test, removed after it. */
export function tempFolder(prefix = 'tillsync-client-'): string {
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  folders.push(folder);
  return folder;
}

/** Runs `close` after the test (in reverse order of registration). */
export function onCleanup(close: () => unknown): void {
  closers.push(close);
}

/**
 * Folds the capture log into the outbox over `db` (any connection to a device file), as the sync does before
 * it reads the outbox, so a test can read `_sync_pending` after writes made with plain SQL.
 */
export function folded(db: Database.Database): Database.Database {
  db.transaction(() => foldCaptured((sql) => db.prepare(sql))).immediate();
  return db;
}

/** A device file with the bookkeeping and the synced tables of `schema`, as after pairing. */
export function openDeviceStore(
  schema: SyncSchema = SHOP_SCHEMA,
  nodeId = 'node1',
): { store: LocalStore; clock: LocalClock; dbPath: string } {
  const dbPath = path.join(tempFolder(), 'device.db');
  const store = LocalStore.open({ dbPath });
  onCleanup(() => store.close());
  const clock = new LocalClock(store);
  clock.nodeId = nodeId;
  applyLocalSchema(store, schema);
  return { store, clock, dbPath };
}

/** A device file of the shop schema with the parts that apply the server's changes to it, and its path. */
export function openDeviceParts(): ApplierParts & { applier: PullApplier; dbPath: string } {
  const { store, clock, dbPath } = openDeviceStore();
  const schema = new CompiledSchema(SHOP_SCHEMA);
  const parts: ApplierParts = {
    store,
    schema,
    tables: new SyncedTables(store, schema),
    outbox: new Outbox(store),
    serverRows: new ServerRows(store),
    conflicts: new ConflictLog(store),
    lostEdits: new LostEdits(store),
    clock,
  };
  return { ...parts, applier: new PullApplier(parts), dbPath };
}

/** mulberry32: a small seeded generator of numbers in [0, 1), so a seed replays the same run. */
export function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
