// Lint: typescript-eslint with type-aware rules, and the import-direction rule of ARCHITECTURE.md.
import tseslint from 'typescript-eslint';

/** Which workspace packages each package may import; nothing imports the cli. */
const allowedImports = {
  protocol: [],
  client: ['protocol'],
  server: ['protocol'],
  cli: ['protocol', 'server', 'client'],
};
const allPackages = ['protocol', 'client', 'server', 'cli'];

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
        project: ['./packages/*/tsconfig.json', './bench/tsconfig.json', './tsconfig.check.json'],
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
    files: ['packages/*/test/**/*.ts', 'bench/**/*.ts', 'scripts/**/*.ts'],
    rules: {
      'no-console': 'off',
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
    },
  },
  ...importDirection,
);
