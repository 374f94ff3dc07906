import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it, onTestFinished } from 'vitest';

const ROOT = path.resolve(import.meta.dirname, '../../..');
const CLI = path.join(ROOT, 'packages/cli/bin/tillsync.js');

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function tillsync(args: readonly string[], cwd: string): Promise<Run> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith('TILLSYNC_')),
  );
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr });
    });
  });
}

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tillsync-adopt-'));
  onTestFinished(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

describe('tillsync attach and detach', () => {
  it('answer --help with their flags', async () => {
    const dir = tempDir();
    const attach = await tillsync(['attach', '--help'], dir);
    expect(attach.code).toBe(0);
    expect(attach.stdout).toMatch(/--db <file>/);
    expect(attach.stdout).toMatch(/--map <file>/);
    const detach = await tillsync(['detach', '--help'], dir);
    expect(detach.code).toBe(0);
    expect(detach.stdout).toMatch(/--db <file>/);
  }, 180_000);

  it('refuse a bad map, a missing file or an unpaired device file with one line and exit 2, changing nothing', async () => {
    const dir = tempDir();
    const device = path.join(dir, 'till.db');
    new Database(device).close();
    const shop = path.join(dir, 'shop.db');
    const shopDb = new Database(shop);
    shopDb.exec('CREATE TABLE Products (ProductID INTEGER PRIMARY KEY, ProductName TEXT)');
    shopDb.close();
    const write = (name: string, content: string): string => {
      fs.writeFileSync(path.join(dir, name), content);
      return name;
    };
    const cases: [string[], RegExp][] = [
      [
        ['attach', '--db', device, '--map', 'nowhere.json'],
        /^tillsync: --map nowhere\.json: there is no such file$/,
      ],
      [
        ['attach', '--db', device, '--map', write('broken.json', '{"legacy":')],
        /^tillsync: --map broken\.json: not valid JSON/,
      ],
      [
        [
          'attach',
          '--db',
          device,
          '--map',
          write(
            'form.json',
            JSON.stringify({ legacy: { sqlite: 'shop.db' }, tables: { products: { table: 'Products' } } }),
          ),
        ],
        /^tillsync: --map form\.json: tables\.products\.key: /,
      ],
      [
        [
          'attach',
          '--db',
          device,
          '--map',
          write(
            'fits.json',
            JSON.stringify({
              legacy: { sqlite: 'shop.db' },
              tables: { products: { table: 'Products', key: 'ProductID', columns: { name: 'ProductName' } } },
            }),
          ),
        ],
        /^tillsync: --db .*till\.db is not a paired device file; run "tillsync pair" first$/,
      ],
      [
        ['attach', '--db', device, '--map', 'fits.json', '--colour', 'red'],
        /^tillsync: unknown option '--colour'$/,
      ],
      [
        ['detach', '--db', path.join(dir, 'missing.db')],
        /^tillsync: --db .*missing\.db: there is no such file$/,
      ],
    ];
    for (const [args, message] of cases) {
      const run = await tillsync(args, dir);
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr.trimEnd(), args.join(' ')).toMatch(message);
    }
    const objects = new Database(shop).prepare('SELECT type, name FROM sqlite_master ORDER BY name').all();
    expect(objects).toEqual([{ type: 'table', name: 'Products' }]);
  }, 300_000);
});
