import fs from 'node:fs';
import Database from 'better-sqlite3';

/**
 * The simulated disk under the world's SQLite files: what of each file survives a power cut.
 *
 * A process crash loses nothing committed: the operating system still writes out what SQLite handed it. A
 * power cut loses what was never synced. In WAL mode SQLite appends each commit to the `-wal` file and
 * syncs that file only when its `synchronous` setting says so: with FULL at every commit, with NORMAL only
 * before a checkpoint copies the log into the database file (and when the log starts over, everything in it
 * having been copied). So after a power cut the log ends at its last synced frame, and recovery replays no
 * commit past it; the database file itself is written by checkpoints only, after the log was synced.
 *
 * The disk watches every statement SQLite runs in this process on a watched file (it wraps better-sqlite3's
 * `run`, `get`, `all` and `exec`): when a statement leaves the connection outside a transaction, it reads
 * the log's shared index (the `-shm` file) for the log's generation (its salt), its committed frames and
 * the frames already checkpointed, and asks the connection for its `synchronous` level at that moment. That
 * gives, per file, the last synced frame, which {@link Disk.powerCut} cuts the log back to. It also counts
 * commits, so that whoever keeps an oracle of what was written can tell which writes a cut took away. A
 * sync of a log made apart from a commit (`fs.fdatasync` on the log) puts on disk what the log held then.
 */

/** The log's state as its shared index tells it. */
interface LogState {
  /** The log's generation: its salt, which changes each time the log starts over. */
  readonly salt: string;
  /** Frames committed in this generation. */
  readonly frames: number;
  /** Frames already copied into the database file by a checkpoint (and so synced before). */
  readonly backfilled: number;
}

/** A commit not yet known to be on disk: its number and where the log ended after it. */
interface UnsyncedCommit {
  readonly mark: number;
  readonly salt: string;
  readonly frames: number;
}

/** One watched database file. */
class WatchedFile {
  readonly path: string;
  readonly connections = new Set<Database.Database>();
  /** Commits seen so far; a commit's number is its mark. */
  commits = 0;
  /** The log as last seen, and the last point of it synced to disk. */
  log: LogState | null = null;
  synced: { salt: string; frames: number } | null = null;
  /** The commits after the last synced point, oldest first. */
  unsynced: UnsyncedCommit[] = [];

  constructor(path: string) {
    this.path = path;
  }
}

/** `PRAGMA synchronous`: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA. */
const SYNC_FULL = 2;
/** The WAL file's header, and each frame's header before its page. */
const WAL_HEADER_BYTES = 32;
const FRAME_HEADER_BYTES = 24;
/** Where the shared index keeps the committed frame count, the salt and the checkpointed frame count. */
const SHM_MAX_FRAME = 16;
const SHM_SALT = 32;
const SHM_BACKFILL = 96;
const SHM_READ_BYTES = 100;

const watched = new Map<string, WatchedFile>();
const syncLevelStatements = new WeakMap<Database.Database, Database.Statement>();
/** A better-sqlite3 method, called with its object as `this`. */
type Method = (...args: unknown[]) => unknown;
let originals: { run: Method; get: Method; all: Method; exec: Method } | null = null;

/** The disk of this process: one, since it wraps the one better-sqlite3 that every part here loads. */
export class Disk {
  /** Starts watching `path` (an absolute database file path, as the code opening it names it). */
  watch(path: string): void {
    install();
    watched.set(path, new WatchedFile(path));
  }

  /** Stops watching `path` (its files are about to be removed). */
  unwatch(path: string): void {
    watched.delete(path);
  }

  /** How many commits the file has seen: a write made now has this mark, or a lower one. */
  mark(path: string): number {
    return this.#file(path).commits;
  }

  /**
   * The power goes off under `path`: every connection open on it closes at once (nothing it would do next
   * reaches the file), and the log is cut back to its last synced frame, as the disk would hold it. Returns
   * the mark of the last commit that survived: commits with a higher mark are gone.
   */
  powerCut(path: string): number {
    const file = this.#file(path);
    observe(file, null);
    const walPath = `${path}-wal`;
    const log = file.log;
    let keptBytes: Buffer | null = null;
    let kept: { salt: string; frames: number } | null = null;
    if (log && fs.existsSync(walPath)) {
      const wal = fs.readFileSync(walPath);
      const pageSize = wal.length >= WAL_HEADER_BYTES ? wal.readUInt32BE(8) : 0;
      // The log on disk is of the generation the index names (a log that started over keeps its header).
      const sameLog = wal.length >= WAL_HEADER_BYTES && wal.subarray(16, 24).toString('hex') === log.salt;
      const frames = sameLog && file.synced?.salt === log.salt ? file.synced.frames : 0;
      if (frames > 0) kept = { salt: log.salt, frames };
      keptBytes = wal.subarray(
        0,
        Math.min(wal.length, WAL_HEADER_BYTES + frames * (FRAME_HEADER_BYTES + pageSize)),
      );
    }
    const database = fs.readFileSync(path);
    // Closing the last connection would checkpoint the whole log into the database file (and remove the
    // log), so the files are put back as the disk held them once every connection is closed.
    for (const connection of file.connections) {
      try {
        connection.close();
      } catch {
        // Closed already.
      }
    }
    file.connections.clear();
    fs.writeFileSync(path, database);
    if (keptBytes) fs.writeFileSync(walPath, keptBytes);
    else fs.rmSync(walPath, { force: true });
    // The shared index is memory, not disk: the next connection rebuilds it from the log.
    fs.rmSync(`${path}-shm`, { force: true });

    const lost = file.unsynced.filter((commit) => !isWithin(commit, file.synced));
    const survived = lost.length > 0 ? (lost[0] as UnsyncedCommit).mark - 1 : file.commits;
    file.commits = survived;
    file.unsynced = [];
    // What the cut kept is on disk: the next connection recovers the same log from it, and a later cut keeps
    // it again (counted as unsynced, it would take those commits away a second time).
    file.log = kept ? { ...kept, backfilled: 0 } : null;
    file.synced = kept;
    return survived;
  }

  #file(path: string): WatchedFile {
    const file = watched.get(path);
    if (!file) throw new Error(`the simulated disk does not watch ${path}`);
    return file;
  }
}

function isWithin(commit: UnsyncedCommit, synced: WatchedFile['synced']): boolean {
  return synced !== null && synced.salt === commit.salt && commit.frames <= synced.frames;
}

/** Reads the log's shared index; null when there is no log (the file was closed cleanly, or is new). */
function readLog(path: string): LogState | null {
  let fd: number;
  try {
    fd = fs.openSync(`${path}-shm`, 'r');
  } catch {
    return null;
  }
  try {
    const header = Buffer.alloc(SHM_READ_BYTES);
    if (fs.readSync(fd, header, 0, SHM_READ_BYTES, 0) < SHM_READ_BYTES) return null;
    return {
      salt: header.subarray(SHM_SALT, SHM_SALT + 8).toString('hex'),
      frames: header.readUInt32LE(SHM_MAX_FRAME),
      backfilled: header.readUInt32LE(SHM_BACKFILL),
    };
  } finally {
    fs.closeSync(fd);
  }
}

/** The connection's `synchronous` level now, asked with the unwrapped `get` so the disk sees nothing of it. */
function syncLevel(connection: Database.Database): number {
  let statement = syncLevelStatements.get(connection);
  if (!statement) {
    statement = connection.prepare('PRAGMA synchronous');
    syncLevelStatements.set(connection, statement);
  }
  const row = (originals as NonNullable<typeof originals>).get.call(statement) as { synchronous: number };
  return row.synchronous;
}

/**
 * What a statement that left `connection` outside a transaction did to the log: a new commit (synced at
 * once when the connection is at FULL), a checkpoint (which synced the log first), or a log that started
 * over (everything before it checkpointed).
 */
function observe(file: WatchedFile, connection: Database.Database | null): void {
  const log = readLog(file.path);
  const before = file.log;
  file.log = log;
  if (!log) {
    // No log: every commit is in the database file, which a clean close or a checkpoint synced.
    file.unsynced = [];
    file.synced = null;
    return;
  }
  if (before?.salt !== log.salt) {
    // A new generation: the old one was wholly checkpointed before the log started over.
    file.unsynced = [];
    file.synced = { salt: log.salt, frames: 0 };
  }
  const committed = before?.salt !== log.salt ? log.frames > 0 : log.frames > before.frames;
  if (committed) {
    file.commits += 1;
    file.unsynced.push({ mark: file.commits, salt: log.salt, frames: log.frames });
    if (connection && syncLevel(connection) >= SYNC_FULL)
      file.synced = { salt: log.salt, frames: log.frames };
  }
  if (log.backfilled > (file.synced?.salt === log.salt ? file.synced.frames : 0))
    file.synced = { salt: log.salt, frames: log.backfilled };
  file.unsynced = file.unsynced.filter((commit) => !isWithin(commit, file.synced));
}

/** Wraps better-sqlite3's statement calls once per process, so the disk sees every commit on its files. */
function install(): void {
  if (originals) return;
  const probe = new Database(':memory:');
  const statementPrototype = Object.getPrototypeOf(probe.prepare('SELECT 1')) as Record<string, Method>;
  const databasePrototype = Database.prototype as unknown as Record<string, Method>;
  probe.close();
  originals = {
    run: statementPrototype.run as Method,
    get: statementPrototype.get as Method,
    all: statementPrototype.all as Method,
    exec: databasePrototype.exec as Method,
  };
  const after = (connection: Database.Database, mayHaveWritten: boolean): void => {
    const file = watched.get(connection.name);
    if (!file) return;
    file.connections.add(connection);
    if (mayHaveWritten && connection.open && !connection.inTransaction) observe(file, connection);
  };
  for (const name of ['run', 'get', 'all'] as const) {
    const original = originals[name];
    statementPrototype[name] = function (this: Database.Statement, ...args: unknown[]): unknown {
      const connection = this.database;
      // A read outside a transaction commits nothing; anything else may end one.
      const mayHaveWritten = !this.reader || connection.inTransaction;
      try {
        return original.apply(this, args);
      } finally {
        after(connection, mayHaveWritten);
      }
    };
  }
  const exec = originals.exec;
  databasePrototype.exec = function (this: Database.Database, ...args: unknown[]): unknown {
    try {
      return exec.apply(this, args);
    } finally {
      after(this, true);
    }
  };
  watchLogSyncs();
}

/**
 * Wraps `fs.fdatasync`, by which the server syncs a log apart from its commits (`group-synced` commits): a
 * sync of a watched file's log puts on disk every frame the log held when the sync began.
 */
function watchLogSyncs(): void {
  const original = fs.fdatasync;
  const wrapped = (fd: number, callback: fs.NoParamCallback): void => {
    const file = fileOfLog(fd);
    const began = file ? readLog(file.path) : null;
    original(fd, (error) => {
      if (!error && file && began) synced(file, began);
      callback(error);
    });
  };
  (fs as { fdatasync: unknown }).fdatasync = wrapped;
}

/** The watched file whose log `fd` is open on, if any. */
function fileOfLog(fd: number): WatchedFile | null {
  const inode = fs.fstatSync(fd).ino;
  for (const file of watched.values()) {
    try {
      if (fs.statSync(`${file.path}-wal`).ino === inode) return file;
    } catch {
      // No log for this file now.
    }
  }
  return null;
}

/** The log of `file` is on disk up to where it stood at `log`, unless it has started over since. */
function synced(file: WatchedFile, log: LogState): void {
  if (file.log?.salt !== log.salt) return;
  if (file.synced?.salt === log.salt && file.synced.frames >= log.frames) return;
  file.synced = { salt: log.salt, frames: log.frames };
  file.unsynced = file.unsynced.filter((commit) => !isWithin(commit, file.synced));
}
