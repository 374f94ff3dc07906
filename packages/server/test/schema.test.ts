import { SchemaError, parseSchema, type PushResult, type SyncSchema } from '@tillsync/protocol';
import { describe, expect, it } from 'vitest';
import { checksumsOf, newId, startTestServer } from './helpers.js';

/** A schema of the kind a shop passes to `serve --schema`: its own tables, nothing of the built-in ones. */
const LIBRARY_SCHEMA: SyncSchema = parseSchema({
  version: 3,
  tables: {
    members: {
      columns: {
        card: { type: 'text', required: true, unique: true },
        name: { type: 'text', required: true },
        joined: { type: 'text', format: 'date' },
      },
    },
    books: {
      columns: {
        title: { type: 'text', required: true },
        copies: { type: 'integer', required: true, merge: 'counter' },
        rating: { type: 'real' },
        shelf: { type: 'text', allowed: ['A', 'B', 'C'], default: 'A' },
      },
    },
    loans: {
      columns: {
        book_id: { type: 'text', required: true, references: 'books' },
        member_id: { type: 'text', required: true, references: 'members' },
      },
    },
    summaries: { serverOnly: true, columns: { total: { type: 'integer' } } },
  },
});

const outcome = (result: PushResult | undefined): string =>
  result?.status === 'rejected' ? result.error.code : (result?.status ?? 'missing');

describe('a custom schema', () => {
  it('is answered by GET /api/sync/schema as given', async () => {
    const server = await startTestServer({ schema: LIBRARY_SCHEMA });
    const device = await server.pair('desk');
    const answer = await device.request('GET', '/api/sync/schema');
    expect(answer).toMatchObject({ status: 200 });
    expect(answer.body).toEqual(LIBRARY_SCHEMA);
  });

  it('is enforced on push: its tables, columns, types, references, unique values, counters and defaults', async () => {
    const server = await startTestServer({ schema: LIBRARY_SCHEMA });
    const desk = await server.pair('desk');
    const other = await server.pair('other');
    const [book, member, loan] = [newId(), newId(), newId()];
    const response = await desk.push([
      desk.upsert('loans', loan, { book_id: book, member_id: member }),
      desk.upsert('books', book, { title: 'Dune', copies: 3, rating: 4.5 }),
      desk.upsert('members', member, { card: 'C-1', name: 'Ann', joined: '2026-11-22' }),
      desk.upsert('products', newId(), { sku: 'A', name: 'x', price_cents: 1, stock: 1 }),
      desk.upsert('books', newId(), { title: 'x', copies: 1, author: 'Someone' }),
      desk.upsert('books', newId(), { title: 'x', copies: 1, shelf: 'Z' }),
      desk.upsert('books', newId(), { title: 'x', copies: 1, rating: 'good' }),
      desk.upsert('members', newId(), { card: 'C-2', name: 'Bob', joined: '22/11/2026' }),
      desk.upsert('members', newId(), { card: 'C-1', name: 'Copy' }),
      desk.upsert('loans', newId(), { book_id: newId(), member_id: member }),
      desk.upsert('summaries', newId(), { total: 1 }),
    ]);
    expect(response.results.map(outcome)).toEqual([
      'applied',
      'applied',
      'applied',
      'UNKNOWN_TABLE',
      'UNKNOWN_COLUMN',
      'INVALID_VALUE',
      'INVALID_VALUE',
      'INVALID_VALUE',
      'UNIQUE_VIOLATION',
      'FK_VIOLATION',
      'READ_ONLY_TABLE',
    ]);

    // The counter merges by adding; a missing column takes its default.
    await desk.push([desk.upsert('books', book, { title: 'Dune', copies: { delta: -1 }, rating: 4.5 })]);
    await other.push([
      other.upsert('books', book, { title: 'Dune', copies: { delta: -1 } }, other.stamps.at(0)),
    ]);
    const pulled = await other.pullAll();
    expect(pulled.changes.find((change) => change.id === book)?.values).toEqual({
      title: 'Dune',
      copies: 1,
      rating: 4.5,
      shelf: 'A',
    });
    expect(Object.keys(pulled.checksums).sort()).toEqual(['books', 'loans', 'members', 'summaries']);
    expect(pulled.checksums).toEqual(checksumsOf(pulled.changes, ['books', 'loans', 'members', 'summaries']));
  });
});

describe('parseSchema', () => {
  const problemsOf = (input: unknown): string[] => {
    try {
      parseSchema(input);
    } catch (error) {
      if (error instanceof SchemaError) return [...error.problems];
      throw error;
    }
    throw new Error('the schema was accepted');
  };

  it('names the table and the column of each problem', () => {
    const problems = problemsOf({
      version: 1,
      tables: {
        items: {
          columns: {
            id: { type: 'text' },
            stock: { type: 'text', merge: 'counter' },
            owner_id: { type: 'text', references: 'owners' },
            parent: { type: 'integer', references: 'items' },
            size: { type: 'integer', default: 'big' },
            Bad_Name: { type: 'text' },
          },
        },
      },
    });
    expect(problems).toEqual([
      expect.stringContaining('items.id'),
      expect.stringMatching(/items\.stock.*counter/),
      expect.stringMatching(/items\.owner_id.*owners/),
      expect.stringContaining('items.parent'),
      expect.stringContaining('items.size'),
      expect.stringContaining('items.Bad_Name'),
    ]);
  });

  it('names where a value of the wrong kind is', () => {
    const problems = problemsOf({ version: 1, tables: { items: { columns: { done: { type: 'bool' } } } } });
    expect(problems.join('\n')).toContain('tables.items.columns.done.type');
    expect(problemsOf({ version: 1, tables: {} })).toEqual([expect.stringContaining('at least one table')]);
    expect(problemsOf({ tables: { items: { columns: {} } } }).join('\n')).toContain('version');
  });

  it('accepts the schema it describes and keeps it as given', () => {
    expect(parseSchema(JSON.parse(JSON.stringify(LIBRARY_SCHEMA)))).toEqual(LIBRARY_SCHEMA);
  });
});
