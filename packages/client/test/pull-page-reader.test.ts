import type { PullResponse } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { readPullPage as readPage } from '../src/pull-page-reader.js';

class RefusedPage extends Error {}
const readPullPage = (text: string): Promise<PullResponse> =>
  readPage(text, (detail) => new RefusedPage(detail));

/** A page as the server lays it out: one change per line. */
function serverText(page: PullResponse): string {
  const { changes, ...rest } = page;
  const lines =
    changes.length === 0 ? '' : `\n${changes.map((change) => JSON.stringify(change)).join(',\n')}\n`;
  return `{"changes":[${lines}],${JSON.stringify(rest).slice(1)}`;
}

function page(count: number): PullResponse {
  return {
    changes: Array.from({ length: count }, (_, index) =>
      index % 7 === 3
        ? { table: 'customers', id: `c${index}`, op: 'delete' as const, updatedAt: `s${index}` }
        : {
            table: 'customers',
            id: `c${index}`,
            op: 'upsert' as const,
            updatedAt: `s${index}`,
            values: { name: `Customer, ${index}\n"quoted" ]`, phone: null, visits: index },
          },
    ),
    cursor: 's1.99',
    hasMore: true,
    serverTime: '2026-12-02T00:00:00.000Z',
    checksums: { customers: { count: 3, sum: '00000000000000ff' } },
  };
}

describe('reading a pull page', () => {
  it('gives what one JSON.parse gives, for pages of any size laid out one change per line or not', async () => {
    for (const count of [0, 1, 2, 5000]) {
      const expected = page(count);
      expect(await readPullPage(serverText(expected))).toEqual(expected);
      expect(await readPullPage(JSON.stringify(expected))).toEqual(expected);
      expect(await readPullPage(JSON.stringify(expected, null, 2))).toEqual(expected);
    }
  });

  it('reads a page whose changes span lines of their own', async () => {
    const expected = page(3000);
    const text = serverText(expected).replaceAll('"op":', '\n"op":');
    expect(await readPullPage(text)).toEqual(expected);
  });

  it('refuses a page that is not what the protocol says, however it is laid out', async () => {
    const good = serverText(page(4000));
    const bad = [
      good.replace('"op":"upsert"', '"op":"merge"'),
      good.replace('\n],"cursor"', ',\n],"cursor"'),
      good.slice(0, good.length - 200),
      good.replace('"hasMore":true', '"hasMore":"yes"'),
      good.replace(',\n', '\n'),
      '',
    ];
    for (const text of bad) await expect(readPullPage(text)).rejects.toBeInstanceOf(RefusedPage);
  });
});
