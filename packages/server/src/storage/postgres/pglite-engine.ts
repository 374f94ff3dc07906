import fs from 'node:fs';
import path from 'node:path';
import { PGlite, types } from '@electric-sql/pglite';
import { PglitePool } from './pglite-pool.js';
import { postgresEngineOn } from './postgres-engine.js';
import type { SqlEngine } from '../sql-engine.js';
import type { PgliteLocation } from './pglite-url.js';

const LOCK_FILE = 'tillsync.pid';

/**
 * PostgreSQL compiled to WebAssembly, inside this process: the PostgreSQL engine's SQL on a folder (or in
 * memory) with no server to run. It is one connection, so work runs one transaction at a time, and only one
 * process may open a folder: a second is refused (a pid file in the folder says who holds it). Starting on
 * an empty folder runs `initdb`, which takes seconds.
 */
export function openPgliteEngine(location: PgliteLocation): SqlEngine {
  let unlock: () => void = () => undefined;
  const engine = postgresEngineOn(async () => {
    const dataDir = 'dataDir' in location ? path.resolve(location.dataDir) : undefined;
    if (dataDir !== undefined) {
      fs.mkdirSync(dataDir, { recursive: true });
      unlock = lockFolder(dataDir);
    }
    try {
      // Sequence numbers, counts and times in ms are int8; they stay far below 2^53, so numbers are exact.
      const database = await PGlite.create({
        ...(dataDir === undefined ? {} : { dataDir }),
        parsers: { [types.INT8]: Number },
      });
      return new PglitePool(database);
    } catch (error) {
      unlock();
      throw error;
    }
  });
  return {
    ...engine,
    close: async () => {
      try {
        await engine.close();
      } finally {
        unlock();
      }
    },
  };
}

/** Claims `dataDir` for this process; returns the release. Refuses a folder a live process holds. */
function lockFolder(dataDir: string): () => void {
  const lockPath = path.join(dataDir, LOCK_FILE);
  for (;;) {
    try {
      fs.writeFileSync(lockPath, String(process.pid), { flag: 'wx' });
      return () => fs.rmSync(lockPath, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const holder = Number(fs.readFileSync(lockPath, 'utf8'));
    if (Number.isInteger(holder) && holder > 0 && processIsAlive(holder)) {
      throw new Error(
        `the PGlite database in ${dataDir} is open in process ${holder}: PGlite serves one process at a time ` +
          '(stop that one, or use a PostgreSQL server for several)',
      );
    }
    // Left by a process that ended without closing: take the folder over.
    fs.rmSync(lockPath, { force: true });
  }
}

function processIsAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
