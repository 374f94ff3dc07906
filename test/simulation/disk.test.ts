import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { Disk } from './src/disk.js';

/**
 * The simulated disk against real SQLite files: a power cut keeps exactly the commits SQLite synced, by the
 * rules of WAL mode (NORMAL syncs at checkpoints, FULL at every commit).
 */

const disk = new Disk();
let folder = '';
afterEach(() => {
  fs.rmSync(folder, { recursive: true, force: true });
});

/** A database file with table `t`, closed cleanly (so on disk), watched, and opened at `synchronous`. */
function open(synchronous: 'NORMAL' | 'FULL'): { file: string; db: Database.Database } {
  folder = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-disk-'));
  const file = path.join(folder, 'a.db');
  const setup = new Database(file);
  setup.pragma('journal_mode = WAL');
  setup.exec('CREATE TABLE t (x INTEGER)');
  setup.close();
  disk.watch(file);
  const db = new Database(file);
  db.pragma(`synchronous = ${synchronous}`);
  return { file, db };
}

function insert(db: Database.Database, ...values: number[]): void {
  for (const value of values) db.prepare('INSERT INTO t (x) VALUES (?)').run(value);
}

/** Cuts the power, opens the file again and reads what is left. */
function afterPowerCut(file: string): { survived: number; rows: number[] } {
  const survived = disk.powerCut(file);
  const db = new Database(file);
  const rows = (db.prepare('SELECT x FROM t ORDER BY x').all() as { x: number }[]).map((row) => row.x);
  db.close();
  disk.unwatch(file);
  return { survived, rows };
}

describe('the simulated disk', () => {
  it('loses the commits since the last checkpoint at synchronous = NORMAL', () => {
    const { file, db } = open('NORMAL');
    insert(db, 1, 2, 3);
    expect(disk.mark(file)).toBe(3);
    expect(afterPowerCut(file)).toEqual({ survived: 0, rows: [] });
    expect(db.open).toBe(false);
  });

  it('loses no commit at synchronous = FULL', () => {
    const { file, db } = open('FULL');
    insert(db, 1, 2, 3);
    expect(afterPowerCut(file)).toEqual({ survived: 3, rows: [1, 2, 3] });
  });

  it('keeps what a checkpoint synced, and loses what came after', () => {
    const { file, db } = open('NORMAL');
    insert(db, 1, 2);
    db.pragma('wal_checkpoint(PASSIVE)');
    insert(db, 3);
    expect(afterPowerCut(file)).toEqual({ survived: 2, rows: [1, 2] });
  });

  it('after a power cut, counts what the cut kept as on disk: a second cut loses only the commits made since', () => {
    const { file, db } = open('FULL');
    insert(db, 1, 2);
    expect(disk.powerCut(file)).toBe(2);
    // Opened again on the log the cut left (not checkpointed), as a device is after its power comes back.
    const again = new Database(file);
    again.pragma('synchronous = NORMAL');
    insert(again, 3);
    expect(disk.mark(file)).toBe(3);
    expect(afterPowerCut(file)).toEqual({ survived: 2, rows: [1, 2] });
  });

  it('keeps everything up to a commit made at FULL (a durable write), and loses the NORMAL ones after it', () => {
    const { file, db } = open('NORMAL');
    insert(db, 1);
    db.pragma('synchronous = FULL');
    db.transaction(() => insert(db, 2, 3))();
    db.pragma('synchronous = NORMAL');
    insert(db, 4);
    expect(afterPowerCut(file)).toEqual({ survived: 2, rows: [1, 2, 3] });
  });

  it('keeps the commits of a log that started over after a checkpoint only as far as it was synced', () => {
    const { file, db } = open('NORMAL');
    insert(db, 1);
    db.pragma('wal_checkpoint(PASSIVE)');
    // This write starts the log over (everything before it is in the database file).
    insert(db, 2, 3);
    expect(afterPowerCut(file)).toEqual({ survived: 1, rows: [1] });
  });
});
