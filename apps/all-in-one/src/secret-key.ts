import { randomBytes } from 'node:crypto';
import { appendToEnvFile, envFileNames } from './env-file-keys';

export interface SecretKeyChoice {
  /** The environment the services load their config from, with the key when one was generated. */
  env: Record<string, string | undefined>;
  /** Where HERALD_SECRET_KEY came from, never the key (logged as `credentialsEncryption`). */
  source: string;
}

/**
 * `pnpm start`'s HERALD_SECRET_KEY, the key that encrypts channel credentials in the database.
 * A first start with none anywhere generates one into `./.env`, as for the admin key, so the
 * quick start encrypts like production does; later starts find it there, and the migrate step
 * seals any credentials saved before it. A key named but empty (`HERALD_SECRET_KEY= pnpm
 * start`) is a choice to store them in plain text (development only): left alone, as is
 * production, where a key nobody chose is a key nobody backs up.
 */
export function chooseSecretKey(
  processEnv: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
  envFile = '.env',
): SecretKeyChoice {
  if (processEnv['HERALD_SECRET_KEY']) return { env: { ...env }, source: 'HERALD_SECRET_KEY from the environment' };
  if (env['HERALD_SECRET_KEY']) return { env: { ...env }, source: 'HERALD_SECRET_KEY from ./.env' };
  const namedSomewhere = 'HERALD_SECRET_KEY' in processEnv || envFileNames(envFile, 'HERALD_SECRET_KEY');
  if (namedSomewhere || env['NODE_ENV'] === 'production') return { env: { ...env }, source: 'none: channel credentials are stored in plain text' };

  const key = randomBytes(32).toString('base64');
  // 0600 when the file is new. The key opens every stored credential: without it they are lost.
  appendToEnvFile(envFile, ['# Encrypts channel credentials in the database: keep it with your backups', `HERALD_SECRET_KEY=${key}`]);
  return { env: { ...env, HERALD_SECRET_KEY: key }, source: 'HERALD_SECRET_KEY generated into ./.env' };
}
