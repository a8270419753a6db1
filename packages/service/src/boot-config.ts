import { chooseBackend, ConfigError, loadConfig, readEnvironment, type DeepReadonly } from '@herald/config';
import type { ObjectSchema } from 'joi';

/**
 * Reads `.env` (when present) under the process environment and validates it. On a bad
 * configuration prints every problem to stderr and exits 1 — before any logger exists.
 */
export function loadConfigOrExit<T extends object>(schema: ObjectSchema<T>, env: Readonly<Record<string, string | undefined>>): DeepReadonly<T> {
  try {
    return loadConfig(schema, readEnvironment(env));
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}

/**
 * `loadConfigOrExit` for a process of its own (ingress, admin, worker, migrate): those run on
 * the services backend. In production the settings must say so (`chooseBackend`); the
 * embedded backend runs everything in one process (`pnpm start`), so asking for it here is
 * an error that says where to go.
 */
export function loadServiceConfigOrExit<T extends object>(schema: ObjectSchema<T>, env: Readonly<Record<string, string | undefined>>): DeepReadonly<T> {
  const environment = readEnvironment(env);
  try {
    if (chooseBackend(environment) === 'embedded' && environment['HERALD_BACKEND']) {
      throw new ConfigError([
        'HERALD_BACKEND=embedded runs ingress, admin and worker together in one process: start it with `pnpm start` (node apps/all-in-one/dist/main.js)',
      ]);
    }
    return loadConfig(schema, environment);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(1);
    }
    throw error;
  }
}
