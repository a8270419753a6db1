import { decodeSecretKey } from '@herald/config';
import { rotateStoredCredentials, SecretKeyring, type Db } from '@herald/db';
import type { Logger } from '@herald/logger';

/** The settings a keyring is made of (every process's config has them). */
export interface SecretKeySettings {
  readonly HERALD_SECRET_KEY: string | undefined;
  readonly HERALD_PREVIOUS_SECRET_KEYS: readonly string[];
}

/**
 * The keys of HERALD_SECRET_KEY and HERALD_PREVIOUS_SECRET_KEYS (validated by the config), as
 * the keyring that seals and opens channel credentials. Without a key (allowed outside
 * production) credentials are stored in plain text: said at start, once per service.
 */
export function secretKeyringOf(config: SecretKeySettings, logger: Logger): SecretKeyring {
  const decode = (text: string) => decodeSecretKey(text) ?? invalid();
  if (!config.HERALD_SECRET_KEY) {
    logger.warn('HERALD_SECRET_KEY is not set: channel credentials are stored in plain text (set it to encrypt them; required in production)');
    return SecretKeyring.none();
  }
  const keyring = SecretKeyring.of(decode(config.HERALD_SECRET_KEY), config.HERALD_PREVIOUS_SECRET_KEYS.map(decode));
  logger.debug('secret keys loaded', { currentKeyId: keyring.currentKeyId, keyIds: keyring.keyIds() });
  return keyring;
}

function invalid(): never {
  throw new Error('a secret key passed the config check but does not decode'); // the schema ran decodeSecretKey on it
}

/**
 * After the migrations, with a key: every connection's credentials sealed under the current key
 * (plain ones from before the key, ones under a previous key). What `secrets rotate` does; a
 * no-op once done. Connections that no configured key opens are logged and left, and fail it.
 */
export async function sealStoredCredentials(db: Db, secrets: SecretKeyring, logger: Logger): Promise<boolean> {
  const { resealed, unreadable } = await rotateStoredCredentials(db, secrets);
  if (resealed > 0) logger.info('channel credentials sealed under the current secret key', { resealed, currentKeyId: secrets.currentKeyId });
  for (const { connectionId, kid } of unreadable) {
    logger.error('channel credentials sealed under a key not configured here: add it to HERALD_PREVIOUS_SECRET_KEYS', { connectionId, kid });
  }
  return unreadable.length === 0;
}
