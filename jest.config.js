/**
 * One jest run for the whole workspace. TypeScript is transpiled by SWC (type-checking is
 * `pnpm typecheck`'s job); workspace packages resolve to their sources so tests never need a
 * build, except the e2e tests, which start the built processes (`pnpm test` builds first).
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/packages', '<rootDir>/e2e'],
  testMatch: ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/'],
  transform: {
    '^.+\\.ts$': [
      '@swc/jest',
      { jsc: { target: 'es2023', parser: { syntax: 'typescript' } }, module: { type: 'commonjs' } },
    ],
  },
  moduleNameMapper: { '^@herald/([a-z-]+)$': '<rootDir>/packages/$1/src' },
  globalSetup: '<rootDir>/packages/testing/src/jest/global-setup.ts',
  globalTeardown: '<rootDir>/packages/testing/src/jest/global-teardown.ts',
  // Every test file has its own database and queue prefix, so files run in parallel safely.
  maxWorkers: 2,
  testTimeout: 30_000,
};
