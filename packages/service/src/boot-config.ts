import { ConfigError, loadConfig, readEnvironment, type DeepReadonly } from '@herald/config';
import type { ObjectSchema } from 'joi';

/**
 * Reads `.env` (when present) under the process environment and validates it. On a bad
 * configuration prints every problem to stderr and exits 1 — before any logger exists.
 */
export function loadConfigOrExit<T extends object>(
  schema: ObjectSchema<T>,
  env: Readonly<Record<string, string | undefined>>,
): DeepReadonly<T> {
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
