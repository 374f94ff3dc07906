/** The part of express-pouchdb (which ships no types) that the PouchDB server of the benchmark calls. */
declare module 'express-pouchdb' {
  import type { Server } from 'node:http';

  /** The Express application express-pouchdb returns. */
  interface PouchDbServerApp {
    listen(port: number, host: string, onListening: () => void): Server;
  }

  interface ExpressPouchDbOptions {
    /** `minimumForPouchDB` serves what PouchDB replication needs, without Fauxton and the admin parts. */
    readonly mode?: 'fullCouchDB' | 'minimumForPouchDB' | 'custom';
    /** Keeps the server's configuration in memory instead of a `config.json` in the working folder. */
    readonly inMemoryConfig?: boolean;
    readonly logPath?: string;
  }

  export default function expressPouchDB(
    pouchDb: new (name?: string) => PouchDB.Database,
    options?: ExpressPouchDbOptions,
  ): PouchDbServerApp;
}
