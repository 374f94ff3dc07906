import path from 'node:path';
import PouchDB from 'pouchdb';
import expressPouchDB from 'express-pouchdb';

/**
 * The peer's server for the PouchDB benchmark, run in a process of its own as `tillsync serve` is:
 * express-pouchdb (CouchDB's HTTP API over PouchDB) storing its databases with PouchDB's LevelDB adapter in
 * the folder given as the first argument. Prints `listening on <url>` once it listens on loopback.
 */
const folder = process.argv[2];
if (!folder) {
  process.stderr.write('usage: node pouchdb-server.js <folder for the LevelDB files>\n');
  process.exit(2);
}
const ServerPouchDB = PouchDB.defaults({ prefix: `${folder}${path.sep}` });
const app = expressPouchDB(ServerPouchDB, {
  mode: 'minimumForPouchDB',
  inMemoryConfig: true,
  logPath: path.join(folder, 'log.txt'),
});
const server = app.listen(0, '127.0.0.1', () => {
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  process.stdout.write(`listening on http://127.0.0.1:${port}\n`);
});
process.once('SIGTERM', () => process.exit(0));
