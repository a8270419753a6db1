import { createCipheriv, createDecipheriv, createHmac, randomBytes } from 'node:crypto';

/**
 * Secrets at rest (issue 13): a value sealed with AES-256-GCM under one of the keys of
 * HERALD_SECRET_KEY / HERALD_PREVIOUS_SECRET_KEYS. What the database holds instead of the
 * plaintext: the version of this format, the id of the key, the 96-bit nonce, the 128-bit
 * authentication tag and the ciphertext, each binary field in base64.
 */
export interface SealedSecret {
  v: 1;
  kid: string;
  iv: string;
  tag: string;
  ct: string;
}

/** AES-256 takes a 32-byte key. */
export const SECRET_KEY_BYTES = 32;
const ALGORITHM = 'aes-256-gcm';
// A random 96-bit nonce per value: GCM's own size, safe for far more values than one key seals.
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** Why a sealed value could not be opened: a key this process lacks, or a value changed since it was sealed. */
export class SecretKeyError extends Error {
  constructor(
    message: string,
    readonly kid: string,
  ) {
    super(message);
    this.name = 'SecretKeyError';
  }
}

/**
 * A key's id, derived from the key itself so that every process names a key the same way and
 * no setting can pair an id with the wrong key. An HMAC under the key: it tells nothing of it.
 */
export function secretKeyId(key: Buffer): string {
  return createHmac('sha256', key).update('herald secret key id').digest('hex').slice(0, 16);
}

export function isSealedSecret(value: unknown): value is SealedSecret {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return false;
  const fields = value as Record<string, unknown>;
  return (
    Object.keys(fields).length === 5 &&
    fields['v'] === 1 &&
    typeof fields['kid'] === 'string' &&
    typeof fields['iv'] === 'string' &&
    typeof fields['tag'] === 'string' &&
    typeof fields['ct'] === 'string'
  );
}

/**
 * The keys a process holds: the current one seals, every one opens. That is what makes a key
 * rotation need no downtime: a value sealed under the previous key still opens while
 * `secrets rotate` re-seals the stored values under the new one. Without a current key (allowed
 * outside production) nothing is sealed: `sealing` is false and callers store plaintext.
 *
 * `context` is authenticated with each value (GCM's additional data) without being stored: a
 * value opens only where it was sealed, so a sealed value copied onto another row is refused.
 */
export class SecretKeyring {
  private constructor(
    private readonly keys: ReadonlyMap<string, Buffer>,
    readonly currentKeyId: string | null,
  ) {}

  /** `current` seals and opens; `previous` only open. Each key is 32 bytes. */
  static of(current: Buffer | undefined, previous: readonly Buffer[] = []): SecretKeyring {
    const keys = new Map<string, Buffer>();
    for (const key of [...(current ? [current] : []), ...previous]) {
      if (key.length !== SECRET_KEY_BYTES) throw new Error(`a secret key must be ${SECRET_KEY_BYTES} bytes, not ${key.length}`);
      keys.set(secretKeyId(key), Buffer.from(key));
    }
    return new SecretKeyring(keys, current ? secretKeyId(current) : null);
  }

  /** No key at all: nothing is sealed, and a sealed value cannot be opened. */
  static none(): SecretKeyring {
    return new SecretKeyring(new Map(), null);
  }

  get sealing(): boolean {
    return this.currentKeyId !== null;
  }

  /** The ids of every key held, the current one first. */
  keyIds(): string[] {
    return [...this.keys.keys()];
  }

  canOpen(sealed: SealedSecret): boolean {
    return this.keys.has(sealed.kid);
  }

  seal(plaintext: string, context: string): SealedSecret {
    const kid = this.currentKeyId;
    if (kid === null) throw new Error('no HERALD_SECRET_KEY: nothing can be sealed');
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv(ALGORITHM, this.keys.get(kid)!, iv, { authTagLength: TAG_BYTES });
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return { v: 1, kid, iv: iv.toString('base64'), tag: cipher.getAuthTag().toString('base64'), ct: ct.toString('base64') };
  }

  /** The plaintext; a SecretKeyError when the key is not held or the value, tag or context differ. */
  open(sealed: SealedSecret, context: string): string {
    const key = this.keys.get(sealed.kid);
    if (!key) {
      throw new SecretKeyError(
        `sealed with secret key ${sealed.kid}, which is not configured here (HERALD_SECRET_KEY, HERALD_PREVIOUS_SECRET_KEYS hold ${this.describeKeys()})`,
        sealed.kid,
      );
    }
    const iv = Buffer.from(sealed.iv, 'base64');
    const tag = Buffer.from(sealed.tag, 'base64');
    // A short tag would weaken the check GCM makes: only the full 16 bytes are accepted.
    if (iv.length !== IV_BYTES || tag.length !== TAG_BYTES) throw new SecretKeyError('a sealed value with a malformed nonce or tag', sealed.kid);
    try {
      const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(Buffer.from(sealed.ct, 'base64')), decipher.final()]).toString('utf8');
    } catch {
      throw new SecretKeyError(`a value sealed with secret key ${sealed.kid} failed authentication: it was changed, or belongs elsewhere`, sealed.kid);
    }
  }

  private describeKeys(): string {
    return this.keys.size ? this.keyIds().join(', ') : 'no key';
  }
}
