/**
 * Tests whose assertions are about timing (a shared throttle measured at the receiver) end in
 * `.solo.test.ts` and run in a second jest pass on their own (`HERALD_TEST_SOLO=1`), so the
 * other test files do not compete with them for the two cores.
 */
const solo = process.env.HERALD_TEST_SOLO === '1';

/**
 * With HERALD_TEST_BACKEND=embedded the tests of the hook, the dispatch, the delivery and the
 * reconciler run a second time on the embedded backend (each file's database an in-memory
 * PGlite holding its queues too; see testBackend() in @herald/testing). The all-in-one e2e
 * covers the rest of it.
 */
const embedded = process.env.HERALD_TEST_BACKEND === 'embedded';
const EMBEDDED_TESTS = [
  '<rootDir>/apps/ingress/src/routes/hooks.int.test.ts',
  '<rootDir>/apps/ingress/src/hooks/dispatch-timer.int.test.ts',
  '<rootDir>/apps/worker/src/dispatch/dispatch-broadcast.int.test.ts',
  '<rootDir>/apps/worker/src/delivery/delivery.int.test.ts',
  '<rootDir>/apps/worker/src/delivery/delivery-recovery.int.test.ts',
  '<rootDir>/apps/worker/src/reconcile.int.test.ts',
];

/**
 * One jest run for the whole workspace. TypeScript is transpiled by SWC (type-checking is
 * `pnpm typecheck`'s job); workspace packages resolve to their sources so tests never need a
 * build, except the e2e tests, which start the built processes (`pnpm test` builds first).
 * @type {import('jest').Config}
 */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/apps', '<rootDir>/packages', '<rootDir>/e2e'],
  testMatch: embedded ? EMBEDDED_TESTS : solo ? ['**/*.solo.test.ts'] : ['**/*.test.ts'],
  testPathIgnorePatterns: ['/node_modules/', '/dist/', ...(solo ? [] : ['\\.solo\\.test\\.ts$'])],
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
  maxWorkers: solo ? 1 : 2,
  testTimeout: 30_000,
};
