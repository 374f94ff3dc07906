import { describe, it } from 'vitest';
import { mariadbShop } from './adopt-legacy-shop.js';
import { adoptionStory } from './adopt-scenario.js';

describe('adopting a shop program’s MariaDB database', () => {
  it('keeps the program’s tables and another device in step, and attaches, detaches and re-attaches safely', async () => {
    await adoptionStory(await mariadbShop());
  }, 180_000);
});
