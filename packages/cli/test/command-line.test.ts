import { describe, expect, it } from 'vitest';
import { tillsync } from './cli-process.js';

/** How the command line answers a person who typed it wrong, and its help, read at a terminal's width. */
describe('the command line', () => {
  it('names an unknown flag, before any required one that is missing', async () => {
    for (const args of [
      ['sync', '--bogus'],
      ['status', '--bogus', '--db', 'x.db'],
      ['serve', '--bogus'],
    ]) {
      const run = await tillsync(args);
      expect(run, args.join(' ')).toMatchObject({ code: 2, stderr: "tillsync: unknown option '--bogus'\n" });
    }
    expect(await tillsync(['sync'])).toMatchObject({
      code: 2,
      stderr: expect.stringContaining("required option '--db <file>'"),
    });
  });

  it('wraps every command’s help to 80 columns', async () => {
    for (const command of ['serve', 'device', 'sync', 'status', 'pair', 'demo']) {
      const run = await tillsync([command, '--help']);
      expect(run.code, command).toBe(0);
      const long = run.stdout.split('\n').filter((line) => line.length > 80);
      expect(long, command).toEqual([]);
    }
  });
});
