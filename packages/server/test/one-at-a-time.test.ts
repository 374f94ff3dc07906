import { describe, expect, it } from 'vitest';
import { OneAtATime } from '../src/http/one-at-a-time.js';

/** A promise and the function that settles it, to decide from the test when work ends. */
function gate(): { promise: Promise<void>; open: () => void } {
  let open = (): void => undefined;
  const promise = new Promise<void>((resolve) => (open = resolve));
  return { promise, open };
}

describe('OneAtATime', () => {
  it('runs the work of one key in order, one at a time, and of other keys alongside', async () => {
    const queue = new OneAtATime();
    const started: string[] = [];
    const first = gate();
    const work = (name: string, until: Promise<void>) => () => {
      started.push(name);
      return until.then(() => name);
    };
    const a1 = queue.run('a', work('a1', first.promise));
    const a2 = queue.run('a', work('a2', Promise.resolve()));
    const b1 = queue.run('b', work('b1', Promise.resolve()));
    expect(await b1).toBe('b1');
    expect(started).toEqual(['a1', 'b1']);
    first.open();
    expect(await Promise.all([a1, a2])).toEqual(['a1', 'a2']);
    expect(started).toEqual(['a1', 'b1', 'a2']);
  });

  it('goes on with the next work of a key after one fails, and the failure reaches its caller only', async () => {
    const queue = new OneAtATime();
    const failed = queue.run('a', () => Promise.reject(new Error('push failed')));
    const next = queue.run('a', () => Promise.resolve('next'));
    await expect(failed).rejects.toThrow('push failed');
    expect(await next).toBe('next');
  });
});
