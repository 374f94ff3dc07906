// Lint: typescript-eslint with type-aware rules, and the import-direction rule of ARCHITECTURE.md.
// Also: no import circles (import-x/no-cycle, resolving the TypeScript sources behind `.js` specifiers), and no
// code outside the engine folders that asks which engine it runs on.
import { createTypeScriptImportResolver } from 'eslint-import-resolver-typescript';
import { importX } from 'eslint-plugin-import-x';
import reactHooks from 'eslint-plugin-react-hooks';
import tseslint from 'typescript-eslint';

/** Which workspace packages each package may import; nothing imports the cli. */
const allowedImports = {
  protocol: [],
  client: ['protocol'],
  jobs: ['protocol'],
  server: ['protocol', 'jobs'],
  cli: ['protocol', 'jobs', 'server', 'client'],
};
const allPackages = ['protocol', 'client', 'jobs', 'server', 'cli', 'web'];

/** The TypeScript projects of the repository, for the type-aware rules and for resolving imports. */
const projects = [
  './packages/*/tsconfig.json',
  './apps/web/tsconfig.json',
  './bench/tsconfig.json',
  './test/simulation/tsconfig.json',
  './tsconfig.check.json',
];

/**
 * An engine check: `x.kind === 'sqlite' | 'postgres'` (either way round), `isSqlite(…)`, `instanceof
 * SqliteAdapter | PostgresAdapter`. What differs between engines is asked of the engine's dialect instead
 * (ARCHITECTURE.md, "Engines behind one seam").
 */
const engineMessage =
  'ask the engine dialect (storage/sql-dialect.ts) instead of checking which engine runs: engine checks live in storage/sqlite/ and storage/postgres/ only';
const engineChecks = [
  "BinaryExpression[operator=/^[!=]==?$/][left.property.name='kind'][right.value=/^(sqlite|postgres)$/]",
  "BinaryExpression[operator=/^[!=]==?$/][right.property.name='kind'][left.value=/^(sqlite|postgres)$/]",
  "CallExpression[callee.name='isSqlite']",
  "BinaryExpression[operator='instanceof'][right.name=/^(Sqlite|Postgres|Mysql)Adapter$/]",
].map((selector) => ({ selector, message: engineMessage }));

const importDirection = Object.entries(allowedImports).map(([name, allowed]) => ({
  files: [`packages/${name}/src/**/*.ts`],
  rules: {
    'no-restricted-imports': [
      'error',
      {
        patterns: allPackages
          .filter((other) => other !== name && !allowed.includes(other))
          .map((other) => ({
            group: [`@tillsync/${other}`, `@tillsync/${other}/*`],
            message: `packages/${name} may not import @tillsync/${other}: dependencies point one way (see ARCHITECTURE.md)`,
          }))
          .concat([
            { group: ['../../*/src/*', '../../../*/src/*'], message: 'import another package by its name' },
          ]),
      },
    ],
  },
}));

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'data/**', 'coverage/**', '**/*.js', '**/*.mjs'] },
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        project: projects,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_' },
      ],
      'no-console': 'error',
    },
  },
  {
    files: ['packages/*/test/**/*.ts', 'apps/*/test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  // An import circle fails: modules that import each other cannot be read, or changed, one at a time. This rule
  // sees circles of value imports as one edits; scripts/check-import-cycles.js (npm run lint) also those that
  // only type imports close.
  {
    files: ['**/*.{ts,tsx}'],
    plugins: { 'import-x': importX },
    settings: {
      // Modules are parsed as TypeScript; the resolver below replaces the preset's legacy one.
      'import-x/extensions': importX.flatConfigs.typescript.settings['import-x/extensions'],
      'import-x/parsers': importX.flatConfigs.typescript.settings['import-x/parsers'],
      'import-x/resolver-next': [
        createTypeScriptImportResolver({
          project: projects,
          conditionNames: ['source', 'types', 'import', 'default'],
          noWarnOnMultipleProjects: true,
        }),
      ],
    },
    rules: {
      'import-x/no-cycle': 'error',
      // Storage knows nothing of jobs: the jobs side builds its store on the storage's engine and hands the
      // push transaction what a write changes in its tables (server/src/server-storage.ts).
      'import-x/no-restricted-paths': [
        'error',
        {
          zones: [
            {
              target: './packages/server/src/storage',
              from: './packages/server/src/jobs',
              message: 'storage may not import the jobs code (see server/src/server-storage.ts)',
            },
          ],
        },
      ],
    },
  },
  {
    files: ['packages/*/src/**/*.ts'],
    ignores: [
      'packages/server/src/storage/sqlite/**',
      'packages/server/src/storage/postgres/**',
      // Landed migrations never change (ARCHITECTURE.md): the first one asks for SQLite's `without rowid`.
      'packages/server/src/storage/migrations/**',
    ],
    rules: { 'no-restricted-syntax': ['error', ...engineChecks] },
  },
  ...importDirection,
  // The pages talk HTTP only: of the workspace they may import the protocol's wire types, as types…
  {
    files: ['apps/web/src/**/*.{ts,tsx}'],
    ...reactHooks.configs.flat['recommended-latest'],
    rules: {
      ...reactHooks.configs.flat['recommended-latest'].rules,
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              // …and the plain modules of its own: the status pill's words and the sync jobs' names.
              regex: '^@tillsync/protocol(?!/(pill-text|sync-job-names)$)',
              allowTypeImports: true,
              message:
                'apps/web imports only the wire types of @tillsync/protocol (import type) and its plain pill-text and sync-job-names modules: it talks HTTP only',
            },
            {
              group: allPackages.filter((name) => name !== 'protocol').map((name) => `@tillsync/${name}`),
              message: 'apps/web talks HTTP only: it imports no workspace package (see ARCHITECTURE.md)',
            },
          ],
        },
      ],
    },
  },
);
