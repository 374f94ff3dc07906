/** Where a PGlite database lives: a folder, or memory (gone when the process ends). */
export type PgliteLocation = { readonly dataDir: string } | { readonly inMemory: true };

/**
 * Reads a `pglite:` URL: `pglite:memory`, or `pglite:` followed by a folder (`pglite:./data/pg`,
 * `pglite:///var/lib/tillsync`). Answers null for any other URL.
 */
export function parsePgliteUrl(url: string): PgliteLocation | null {
  if (!url.startsWith('pglite:')) return null;
  const rest = url.slice('pglite:'.length);
  if (rest === 'memory' || rest === '//memory') return { inMemory: true };
  const dataDir = rest.startsWith('//') ? rest.slice(2) : rest;
  if (dataDir === '') throw new Error(`${url} names no folder: write pglite:DIR or pglite:memory`);
  return { dataDir: decodeURIComponent(dataDir) };
}
