import { describe, expect, it } from 'vitest';
import { AdoptMapError, attachLegacyDatabase } from '../src/index.js';
import { shopMap, sqliteShop } from './adopt-legacy-shop.js';
import { adoptionStory } from './adopt-scenario.js';
import { startTestServer } from './server-fixture.js';

describe('adopting a shop program’s SQLite database', () => {
  it('keeps the program’s tables and another device in step, and attaches, detaches and re-attaches safely', async () => {
    await adoptionStory(sqliteShop());
  });

  it('refuses a map that does not fit, naming the table and column, and changes nothing', async () => {
    const server = await startTestServer();
    const till = await server.pairedClient('till');
    const shop = sqliteShop();
    const product = await shop.addProduct('Cola', 1.99, 'QR-COLA');
    const objects = await shop.allObjects();
    const problemsOf = async (edit: (map: MapShape) => void): Promise<string> => {
      const map = shopMap(shop.location) as MapShape;
      edit(map);
      const error = await attachLegacyDatabase({ dbPath: till.database.name, map }).catch(
        (caught: unknown) => caught,
      );
      expect(error).toBeInstanceOf(AdoptMapError);
      return (error as AdoptMapError).problems.join('\n');
    };

    expect(await problemsOf((map) => (map.tables.products.table = 'Produce'))).toMatch(
      /^tables\.products\.table: .*shop\.db has no table "Produce"$/m,
    );
    expect(await problemsOf((map) => (map.tables.products.columns['name'] = 'ProductTitle'))).toMatch(
      /^tables\.products\.columns\.name: Products has no column "ProductTitle"$/m,
    );
    expect(await problemsOf((map) => (map.tables.products.columns['colour'] = 'Notes'))).toMatch(
      /^tables\.products\.columns\.colour: the synced table products has no column "colour"$/m,
    );
    expect(
      await problemsOf(
        (map) =>
          (map.tables.products.columns['name'] = { column: 'ProductName', convert: 'decimal-to-cents' }),
      ),
    ).toMatch(
      /^tables\.products\.columns\.name: "decimal-to-cents" gives whole cents, but name is of type text$/m,
    );
    expect(await problemsOf((map) => delete map.tables.products.columns['stock'])).toMatch(
      /products\.stock is required: bind it to a column of Products or give its value in "defaults"/,
    );
    expect(await problemsOf((map) => (map.tables.products.key = 'QrCode'))).toMatch(
      /^tables\.products\.key: Products\.QrCode is not an integer primary key/m,
    );
    expect(
      await problemsOf((map) => (map.tables.products.columns['sku'] = { column: 'QrCode', convert: 'euro' })),
    ).toMatch(/tables\.products\.columns\.sku/);
    await shop.setStatus(product, 'Discontinued' as 'Inactive');
    expect(await problemsOf(() => {})).toMatch(
      /^tables\.products\.columns\.active: Products\.Status holds "Discontinued" \(ProductID 1\), which the value table does not list$/m,
    );
    expect(await shop.allObjects()).toEqual(objects);
  });
});

interface MapShape {
  tables: Record<string, { table: string; key: string; columns: Record<string, unknown> }> & {
    products: { table: string; key: string; columns: Record<string, unknown> };
  };
}
