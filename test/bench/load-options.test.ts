import { describe, expect, it } from 'vitest';
import { HELP, LoadUsageError, parseLoadOptions } from '../../bench/src/load/options.js';

/** `npm run load -- FLAGS`: the shops of the single-shop schema, or a chain's stores with --stores. */
describe('the load run options', () => {
  it('keeps the shops of the single-shop schema when --stores is not given', () => {
    const options = parseLoadOptions(['--devices', '40', '--devices-per-tenant', '4', '--processes', '2']);
    expect(options).toMatchObject({ devices: 40, devicesPerTenant: 4, processes: 2, stores: null });
  });

  it('makes a chain of stores × devices per store, 3 a store unless told', () => {
    expect(parseLoadOptions(['--stores', '1000'])).toMatchObject({
      stores: 1000,
      devicesPerStore: 3,
      devices: 3000,
      products: 5000,
    });
    expect(
      parseLoadOptions(['--stores', '10', '--devices-per-store', '2', '--products', '50', '--interval', '5']),
    ).toMatchObject({ stores: 10, devicesPerStore: 2, devices: 20, products: 50, interval: 5 });
  });

  it.each([
    [['--stores', '0'], '--stores must be a whole number from 1'],
    [['--stores', 'many'], '--stores must be a whole number'],
    [['--stores', '10', '--devices', '30'], '--devices is for shops'],
    [['--stores', '10', '--devices-per-tenant', '3'], '--devices-per-tenant is for shops'],
    [['--devices-per-store', '3'], '--devices-per-store needs --stores'],
    [['--products', '100'], '--products needs --stores'],
    [['--stores', '100000', '--devices-per-store', '2'], 'at most 100000 devices, not 200000'],
    [['--store', '10'], "Unknown option '--store'"],
  ])('refuses %j with a clear message', (args, message) => {
    expect(() => parseLoadOptions(args)).toThrow(LoadUsageError);
    expect(() => parseLoadOptions(args)).toThrow(message);
  });

  it('answers null for --help, whose text names every option it reads', () => {
    expect(parseLoadOptions(['--help'])).toBeNull();
    for (const flag of ['--stores', '--devices-per-store', '--products', '--processes', '--interval'])
      expect(HELP).toContain(flag);
  });
});
