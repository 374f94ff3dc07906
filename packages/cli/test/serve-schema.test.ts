import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { ROOT, startCli, tempDir, tillsync, type CliRun } from './cli-process.js';

const READY = /^tillsync serve: listening on (http:\/\/127\.0\.0\.1:\d+)$/m;

const V1 = {
  version: 1,
  tables: { items: { columns: { name: { type: 'text', required: true }, qty: { type: 'integer' } } } },
};
const ADDITIVE = {
  version: 2,
  tables: {
    items: { columns: { ...V1.tables.items.columns, barcode: { type: 'text' } } },
    tags: { columns: { label: { type: 'text' } } },
  },
};
const BREAKING = {
  version: 3,
  tables: {
    ...ADDITIVE.tables,
    items: { columns: { ...ADDITIVE.tables.items.columns, qty: { type: 'text' } } },
  },
};

/** The one line on stderr of a refused start, which exits 2. */
function refusal(run: CliRun): string {
  expect(run.code, run.stderr).toBe(2);
  const lines = run.stderr.split('\n').filter((line) => line.trim() !== '');
  expect(lines, run.stderr).toHaveLength(1);
  return lines[0] ?? '';
}

describe('tillsync serve --schema on a database that served another schema', () => {
  beforeAll(() => {
    execFileSync('npx', ['tsc', '-b'], { cwd: ROOT, stdio: 'pipe' });
  }, 120_000);

  it('serves an additive version, refuses a breaking one naming table and column unless --accept-breaking-schema, and refuses a version going back', async () => {
    const dir = tempDir();
    const db = path.join(dir, 'cloud.db');
    const file = (name: string, schema: unknown): string => {
      const where = path.join(dir, name);
      fs.writeFileSync(where, JSON.stringify(schema));
      return where;
    };
    const [v1, additive, breaking] = [
      file('v1.json', V1),
      file('v2.json', ADDITIVE),
      file('v3.json', BREAKING),
    ];
    const serve = async (schema: string, extra: string[] = []): Promise<void> => {
      const server = await startCli(
        ['serve', '--db', db, '--port', '0', '--schema', schema, ...extra],
        READY,
        {
          cwd: dir,
        },
      );
      await server.stop();
    };
    const start = (schema: string, extra: string[] = [], env: Record<string, string> = {}): Promise<CliRun> =>
      tillsync(['serve', '--db', db, '--port', '0', '--schema', schema, ...extra], { cwd: dir, env });

    await serve(v1);
    await serve(additive);
    expect(refusal(await start(breaking))).toBe(
      `tillsync: --schema ${breaking}: version 3 is not additive to version 2, which this database served last: items.qty: its type changed from integer to text. Make the change additive, or start with --accept-breaking-schema: every device then takes a fresh snapshot, keeping its unsent changes where they still fit`,
    );
    expect(refusal(await start(breaking, [], { TILLSYNC_ACCEPT_BREAKING_SCHEMA: 'maybe' }))).toBe(
      'tillsync: TILLSYNC_ACCEPT_BREAKING_SCHEMA must be true or false, not "maybe"',
    );
    await serve(breaking, ['--accept-breaking-schema']);
    await serve(breaking);
    expect(refusal(await start(additive))).toMatch(
      /^tillsync: --schema .*v2\.json: the schema's version 2 is lower than version 3, which this database served last/,
    );
    const changedWithoutVersion = file('v3-changed.json', {
      ...BREAKING,
      tables: { ...BREAKING.tables, more: { columns: {} } },
    });
    expect(refusal(await start(changedWithoutVersion))).toContain('raise the version (to 4)');
  });

  it('lists --accept-breaking-schema in its help', async () => {
    const help = await tillsync(['serve', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--accept-breaking-schema\s+serve a --schema that is not additive/);
    expect(help.stdout).toContain('TILLSYNC_ACCEPT_BREAKING_SCHEMA');
  });
});
