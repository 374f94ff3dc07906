import { describe, it } from 'vitest';
import { mariadbShop } from './adopt-legacy-shop.js';
import { musicShopStory } from './adopt-music-scenario.js';
import { mariadbMusicShop } from './adopt-music-shop.js';
import { adoptionStory } from './adopt-scenario.js';

describe('adopting a shop program’s MariaDB database', () => {
  it('keeps the program’s tables and another device in step, and attaches, detaches and re-attaches safely', async () => {
    await adoptionStory(await mariadbShop());
  }, 180_000);
});

describe('adopting a music shop’s MariaDB database nobody here wrote', () => {
  it('goes from adopt init to two synced devices: keys of every kind, deletes in order, refusals shown and retried, no echo', async () => {
    await musicShopStory(await mariadbMusicShop());
  }, 180_000);
});
