// The workspace's lint rules (`pnpm lint`, run by .ci/run). Type-aware: the rules that matter
// here — promises nobody awaits, switches that miss a case — need the type checker, so
// typescript-eslint runs with every tsconfig of the workspace (TypeScript 5 from this package).
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

export default tseslint.config(
  { ignores: ['**/dist/**', '**/node_modules/**', 'bench/**', 'coverage/**', '.artifacts/**', '**/*.mjs', '**/*.js', '**/*.cjs'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['**/*.ts'],
    languageOptions: {
      parserOptions: {
        tsconfigRootDir: root,
        project: ['./apps/*/tsconfig.json', './packages/*/tsconfig.json', './tsconfig.tests.json'],
      },
    },
    rules: {
      // A promise nobody awaits loses its error and its ordering: await it, return it, or say `void`.
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': ['error', { checksVoidReturn: { arguments: false, attributes: false } }],
      // A switch over a union names every member, or says what the rest do (`default`).
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }],
      // No unused code: `_` marks what a signature needs but the body does not.
      '@typescript-eslint/no-unused-vars': [
        'error',
        { argsIgnorePattern: '^_', varsIgnorePattern: '^_', destructuredArrayIgnorePattern: '^_', caughtErrors: 'none' },
      ],
      '@typescript-eslint/no-unnecessary-type-assertion': 'error',
    },
  },
  {
    // Kysely's own convention: a migration takes Kysely<any>, since it must not depend on the
    // schema type of today's code (it describes the database as it was at that migration).
    files: ['packages/db/src/migrations/**/*.ts', 'packages/db/src/migrate.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
  {
    // Tests read JSON answers whose shape is the thing under test; `any` there is the honest type.
    files: ['**/*.test.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off' },
  },
);
