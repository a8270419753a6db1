import { randomBytes } from 'node:crypto';

/**
 * Once per `jest` run: an id that names every database and prefix of this run, so two runs
 * on one machine never share one. Environment set here reaches the test workers.
 * Kept free of `@herald/*` imports: jest resolves those to sources only inside test workers.
 */
export default function globalSetup(): void {
  process.env['HERALD_TEST_RUN_ID'] = randomBytes(3).toString('hex');
}
