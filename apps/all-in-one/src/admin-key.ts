import { randomBytes } from 'node:crypto';
import { appendToEnvFile, envFileNames } from './env-file-keys';

export interface AdminKeyChoice {
  /** The environment the services load their config from, with the key when one was generated. */
  env: Record<string, string | undefined>;
  /** Where the admin API's key came from, never the key (logged as `adminAuth`). */
  source: string;
}

/**
 * `pnpm start`'s admin key. The admin API always needs one unless ADMIN_AUTH=disabled, so a first
 * start with none anywhere generates one into `./.env`: the quick start's commands read it from
 * there (as they read the Docker quick start's), and later starts find the same key. A key given
 * but empty (`ADMIN_API_KEY=`) is left for the config to refuse, rather than silently replaced.
 * Never in production, where a key nobody chose is a key nobody knows.
 */
export function chooseAdminKey(
  processEnv: Readonly<Record<string, string | undefined>>,
  env: Readonly<Record<string, string | undefined>>,
  envFile = '.env',
): AdminKeyChoice {
  if (env['ADMIN_AUTH'] === 'disabled') return { env: { ...env }, source: 'none (ADMIN_AUTH=disabled): the admin API is open, on 127.0.0.1 only' };
  if (processEnv['ADMIN_API_KEY']) return { env: { ...env }, source: 'required: ADMIN_API_KEY from the environment' };
  if (env['ADMIN_API_KEY']) return { env: { ...env }, source: 'required: ADMIN_API_KEY from ./.env' };
  const namedSomewhere = 'ADMIN_API_KEY' in processEnv || envFileNames(envFile, 'ADMIN_API_KEY');
  if (namedSomewhere || env['NODE_ENV'] === 'production') return { env: { ...env }, source: 'required: ADMIN_API_KEY not set' };

  const key = randomBytes(24).toString('hex');
  // 0600 (on creation): the key is as good as a password to every bot's data.
  appendToEnvFile(envFile, [`ADMIN_API_KEY=${key}`]);
  return { env: { ...env, ADMIN_API_KEY: key }, source: 'required: ADMIN_API_KEY generated into ./.env' };
}
