import fs from 'node:fs';
import path from 'node:path';
import type * as Client from '@tillsync/client';
import type { Command } from 'commander';
import { UsageError } from './usage-error.js';

/** The device code, loaded only when one of these commands runs. */
const loadClient = (): Promise<typeof Client> => import('@tillsync/client');

/**
 * `tillsync adopt init`, `attach` and `detach`: write a schema and a map from a shop program's existing
 * database (SQLite or MariaDB), bind it to a paired device file, and undo it (docs/adopt.md). Each prints
 * one JSON line.
 */
export function registerAdoptCommands(program: Command): void {
  const adopt = program
    .command('adopt')
    .description("prepare the adoption of a shop program's own database (see `attach`)");
  adopt
    .command('init')
    .description(
      "read a shop program's database and write the synced schema (for `tillsync serve --schema`) and the " +
        'map (for `tillsync attach --map`) that bind every table it can: names in snake case, types, ' +
        'references from its foreign keys, keys from its primary keys. Review and edit both before use; ' +
        'what could not be bound is in the map\'s "notes". Prints {"schema", "map", "tables", "skipped"}',
    )
    .requiredOption('--legacy <file or url>', 'the SQLite file, or mysql://user:password@host:3306/database')
    .requiredOption('--out <dir>', 'the folder to write schema.json and map.json to (made if missing)')
    .option('--force', 'replace schema.json and map.json if they are there')
    .action(async (flags: { legacy: string; out: string; force?: boolean }) => {
      const schemaFile = path.join(flags.out, 'schema.json');
      const mapFile = path.join(flags.out, 'map.json');
      if (!flags.force) {
        for (const file of [schemaFile, mapFile]) {
          if (fs.existsSync(file))
            throw new UsageError(`--out ${flags.out}: ${file} is there already; give --force to replace it`);
        }
      }
      fs.mkdirSync(flags.out, { recursive: true });
      const { AdoptMapError, generateAdoptMap } = await loadClient();
      const generated = await generateAdoptMap({ legacy: flags.legacy, mapFolder: flags.out }).catch(
        (error: unknown) => {
          if (error instanceof AdoptMapError)
            throw new UsageError(
              `--legacy ${flags.legacy}: ${error.problems.join('; ').replace(/^legacy\.\w+: /, '')}`,
            );
          throw error;
        },
      );
      fs.writeFileSync(schemaFile, `${JSON.stringify(generated.schema, null, 2)}\n`);
      fs.writeFileSync(mapFile, `${JSON.stringify(generated.map, null, 2)}\n`);
      process.stdout.write(
        `${JSON.stringify({
          schema: schemaFile,
          map: mapFile,
          tables: Object.entries(generated.map.tables).map(([table, binding]) => ({
            table,
            legacyTable: binding.table,
            key: binding.key,
            keys: Array.isArray(binding.key) ? 'composite' : (binding.newKeys ?? 'database'),
          })),
          skipped: generated.skipped,
        })}\n`,
      );
    });

  program
    .command('attach')
    .description(
      "bind a shop program's own database to a paired device file, as a map file says: installs capture " +
        'triggers and bookkeeping beside its tables (never in them) and brings its rows in, to be pushed by ' +
        'the next sync; the device agent keeps both in step from then on. Safe to run again. Prints ' +
        '{"legacy", "tables", "broughtIn", "broughtOut"}',
    )
    .requiredOption('--db <file>', "the device's Tillsync file, paired with `tillsync pair`")
    .requiredOption(
      '--map <file>',
      'the map file (JSON): the database, and its tables and columns per synced table',
    )
    .action(async (flags: { db: string; map: string }) => {
      requireFile(flags.db, '--db');
      requireFile(flags.map, '--map');
      let map: unknown;
      const text = fs.readFileSync(flags.map, 'utf8');
      try {
        map = JSON.parse(text);
      } catch (error) {
        throw new UsageError(`--map ${flags.map}: not valid JSON (${(error as Error).message})`);
      }
      const client = await loadClient();
      const result = await client
        .attachLegacyDatabase({
          dbPath: flags.db,
          map,
          mapFolder: path.dirname(path.resolve(flags.map)),
        })
        .catch((error: unknown) => {
          throw usageError(client, flags.db, { path: flags.map, text }, error);
        });
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });

  program
    .command('detach')
    .description(
      "undo `tillsync attach`: brings the program's last changes in, then removes the triggers and bookkeeping " +
        'from its database, leaving its tables and rows as they are (the ids are kept for a later attach). ' +
        'Prints {"detached", "legacy"}',
    )
    .requiredOption('--db <file>', "the device's Tillsync file")
    .action(async (flags: { db: string }) => {
      requireFile(flags.db, '--db');
      const client = await loadClient();
      const result = await client.detachLegacyDatabase({ dbPath: flags.db }).catch((error: unknown) => {
        throw usageError(client, flags.db, null, error);
      });
      process.stdout.write(`${JSON.stringify(result)}\n`);
    });
}

/**
 * The line of a map file's field (`tables.products.columns.name`): each name of the path looked for as a
 * JSON key after the previous one; the deepest found. `null` when not even the first is there.
 */
function lineOfField(text: string, field: string): number | null {
  let at = 0;
  let found: number | null = null;
  for (const name of field.split('.')) {
    const next = text.indexOf(JSON.stringify(name), at);
    if (next < 0) break;
    at = next;
    found = next;
  }
  return found === null ? null : text.slice(0, found).split('\n').length;
}

function requireFile(file: string, flag: string): void {
  if (!fs.existsSync(file)) throw new UsageError(`${flag} ${file}: there is no such file`);
}

/**
 * A map that does not fit or a device file that is not paired as a usage error; any other error as it is.
 * Each problem of a map file names the line of the field it is about.
 */
function usageError(
  { AdoptMapError, NotPairedError }: typeof Client,
  dbPath: string,
  map: { path: string; text: string } | null,
  error: unknown,
): unknown {
  if (error instanceof AdoptMapError) {
    if (map === null) return new UsageError(error.problems.join('; '));
    const problems = error.problems.map((problem) => {
      const split = problem.indexOf(': ');
      const field = split < 0 ? '' : problem.slice(0, split);
      const line = field === '' ? null : lineOfField(map.text, field);
      return line === null ? problem : `${field} (line ${line})${problem.slice(split)}`;
    });
    return new UsageError(`--map ${map.path}: ${problems.join('; ')}`);
  }
  if (error instanceof NotPairedError) {
    return new UsageError(`--db ${dbPath} is not a paired device file; run "tillsync pair" first`);
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'SQLITE_NOTADB')
    return new UsageError(`--db ${dbPath}: not a SQLite database that can be opened`);
  return error;
}
