import { ConfigError } from './load-config';

/** The two ways Herald runs (SPEC §6). */
export type HeraldBackend = 'embedded' | 'services';

const BACKEND_SETTINGS_HELP =
  'set HERALD_BACKEND=services with DATABASE_URL and REDIS_URL (Postgres and Redis), or HERALD_BACKEND=embedded (the built-in database, in HERALD_DATA_DIR)';

/**
 * Which backend the settings ask for. `HERALD_BACKEND` decides when it is set; otherwise a
 * `DATABASE_URL` or `REDIS_URL` means the services; otherwise the embedded database — except
 * in production, where nothing is picked silently: no setting is a start-up error naming them.
 * `REDIS_CLUSTER_NODES` counts as a `REDIS_URL`: it names where the queues are just the same.
 */
export function chooseBackend(env: Readonly<Record<string, string | undefined>>): HeraldBackend {
  const explicit = env['HERALD_BACKEND']?.trim();
  if (explicit) {
    if (explicit === 'embedded' || explicit === 'services') return explicit;
    throw new ConfigError([`HERALD_BACKEND is "${explicit}": it must be embedded or services`]);
  }
  if (env['DATABASE_URL'] || env['REDIS_URL'] || env['REDIS_CLUSTER_NODES']) return 'services';
  if (env['NODE_ENV'] === 'production') {
    throw new ConfigError([`no backend is set, and production never picks one silently: ${BACKEND_SETTINGS_HELP}`]);
  }
  return 'embedded';
}
