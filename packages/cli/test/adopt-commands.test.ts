import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { tempDir, tillsync } from './cli-process.js';

describe('tillsync attach and detach', () => {
  it('answer --help with their flags', async () => {
    const dir = tempDir('tillsync-adopt-');
    const attach = await tillsync(['attach', '--help'], { cwd: dir });
    expect(attach.code).toBe(0);
    expect(attach.stdout).toMatch(/--db <file>/);
    expect(attach.stdout).toMatch(/--map <file>/);
    const detach = await tillsync(['detach', '--help'], { cwd: dir });
    expect(detach.code).toBe(0);
    expect(detach.stdout).toMatch(/--db <file>/);
    const init = await tillsync(['adopt', 'init', '--help'], { cwd: dir });
    expect(init.code).toBe(0);
    expect(init.stdout).toMatch(/--legacy <file or url>/);
    expect(init.stdout).toMatch(/--out <dir>/);
    const tenants = await tillsync(['admin', 'tenants', '--help'], { cwd: dir });
    expect(tenants.code).toBe(0);
    expect(tenants.stdout).toMatch(/pairing-code/);
  }, 180_000);

  it('refuse a bad map, a missing file or an unpaired device file with one line and exit 2, changing nothing', async () => {
    const dir = tempDir('tillsync-adopt-');
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
        /^tillsync: --map form\.json: tables\.products\.key \(line 1\): /,
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
      const run = await tillsync(args, { cwd: dir });
      expect(run.code, args.join(' ')).toBe(2);
      expect(run.stderr.trimEnd().split('\n'), args.join(' ')).toHaveLength(1);
      expect(run.stderr.trimEnd(), args.join(' ')).toMatch(message);
    }
    const objects = new Database(shop).prepare('SELECT type, name FROM sqlite_master ORDER BY name').all();
    expect(objects).toEqual([{ type: 'table', name: 'Products' }]);
  }, 300_000);
});
