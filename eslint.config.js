// Lint: typescript-eslint with type-aware rules, and the import-direction rule of ARCHITECTURE.md.
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
        project: [
          './packages/*/tsconfig.json',
          './apps/web/tsconfig.json',
          './bench/tsconfig.json',
          './test/simulation/tsconfig.json',
          './tsconfig.check.json',
        ],
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
