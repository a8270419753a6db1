import { isRecord } from '@herald/core';
import { isSealedSecret, type SealedSecret, type SecretKeyring } from './secret-keyring';

/**
 * What `channel_connections.credentials` holds: the credentials object sealed whole (one
 * envelope per connection), or the plain object — written by a process without
 * HERALD_SECRET_KEY (development), or before the key was set. Plain rows are read as they are
 * and sealed by `secrets rotate` (and `migrate up` with a key). A plain credentials object
 * cannot pass for an envelope: credential values are strings, the envelope's `v` a number.
 */
export type StoredCredentials = SealedSecret | Record<string, string>;

/** The (bot, channel) a connection's credentials belong to: a connection is unique by them. */
export interface CredentialsOwner {
  botId: string;
  channel: string;
}

/** Authenticated with the sealed value: credentials copied onto another connection's row do not open. */
function contextOf({ botId, channel }: CredentialsOwner): string {
  return `channel_connections.credentials:${botId}:${channel}`;
}

export function sealCredentials(keyring: SecretKeyring, credentials: Readonly<Record<string, string>>, owner: CredentialsOwner): StoredCredentials {
  return keyring.sealing ? keyring.seal(JSON.stringify(credentials), contextOf(owner)) : { ...credentials };
}

/** The credentials in clear; a SecretKeyError when sealed under a key this process lacks, or tampered with. */
export function openCredentials(keyring: SecretKeyring, stored: unknown, owner: CredentialsOwner): Record<string, string> {
  const credentials: unknown = isSealedSecret(stored) ? JSON.parse(keyring.open(stored, contextOf(owner))) : stored;
  if (!isRecord(credentials) || !Object.values(credentials).every((value) => typeof value === 'string')) {
    throw new Error(`the stored credentials of the ${owner.channel} connection of bot ${owner.botId} are not an object of strings`);
  }
  return credentials as Record<string, string>;
}

/** Whether `stored` is sealed under the keyring's current key: what `secrets rotate` leaves alone. */
export function isSealedUnderCurrentKey(keyring: SecretKeyring, stored: unknown): boolean {
  return isSealedSecret(stored) && stored.kid === keyring.currentKeyId;
}
