import { randomBytes } from 'node:crypto';
import { isSealedSecret, SecretKeyError, SecretKeyring, secretKeyId, type SealedSecret } from './secret-keyring';
import { isSealedUnderCurrentKey, openCredentials, sealCredentials } from './stored-credentials';

const CONTEXT = 'channel_connections.credentials:bot-1:SMSChannel';

/** `sealed` with one base64 field's first byte flipped. */
function flipped(sealed: SealedSecret, field: 'iv' | 'tag' | 'ct'): SealedSecret {
  const bytes = Buffer.from(sealed[field], 'base64');
  bytes[0] = bytes[0]! ^ 0x01;
  return { ...sealed, [field]: bytes.toString('base64') };
}

describe('SecretKeyring', () => {
  const oldKey = randomBytes(32);
  const newKey = randomBytes(32);

  it('seals and opens a value (round trip), a fresh nonce each time', () => {
    const keyring = SecretKeyring.of(newKey);
    const text = 'twilio auth token ✓ with unicode';
    const sealed = keyring.seal(text, CONTEXT);
    expect(sealed).toEqual({ v: 1, kid: secretKeyId(newKey), iv: expect.any(String), tag: expect.any(String), ct: expect.any(String) });
    expect(isSealedSecret(sealed)).toBe(true);
    expect(JSON.stringify(sealed)).not.toContain('twilio');
    expect(Buffer.from(sealed.iv, 'base64')).toHaveLength(12);
    expect(Buffer.from(sealed.tag, 'base64')).toHaveLength(16);
    expect(keyring.open(sealed, CONTEXT)).toBe(text);
    const again = keyring.seal(text, CONTEXT);
    expect(again.iv).not.toBe(sealed.iv);
    expect(again.ct).not.toBe(sealed.ct);
  });

  it('names each key by an id derived from it: the same everywhere, different per key', () => {
    expect(secretKeyId(newKey)).toMatch(/^[0-9a-f]{16}$/);
    expect(secretKeyId(Buffer.from(newKey))).toBe(secretKeyId(newKey));
    expect(secretKeyId(oldKey)).not.toBe(secretKeyId(newKey));
    expect(SecretKeyring.of(newKey, [oldKey]).keyIds()).toEqual([secretKeyId(newKey), secretKeyId(oldKey)]);
  });

  it('refuses a value sealed under a key it does not hold, naming the key id', () => {
    const sealed = SecretKeyring.of(oldKey).seal('secret', CONTEXT);
    const other = SecretKeyring.of(newKey);
    expect(other.canOpen(sealed)).toBe(false);
    expect(() => other.open(sealed, CONTEXT)).toThrow(SecretKeyError);
    expect(() => other.open(sealed, CONTEXT)).toThrow(`sealed with secret key ${secretKeyId(oldKey)}, which is not configured here`);
    // A forged key id does not make another key try it.
    expect(() => other.open({ ...sealed, kid: secretKeyId(newKey) }, CONTEXT)).toThrow(/failed authentication/);
  });

  it('refuses a tampered tag, ciphertext or nonce, a cut tag, and a value moved to another context', () => {
    const keyring = SecretKeyring.of(newKey);
    const sealed = keyring.seal('secret', CONTEXT);
    for (const field of ['tag', 'ct', 'iv'] as const) {
      expect(() => keyring.open(flipped(sealed, field), CONTEXT)).toThrow(SecretKeyError);
    }
    const shortTag = { ...sealed, tag: Buffer.from(sealed.tag, 'base64').subarray(0, 4).toString('base64') };
    expect(() => keyring.open(shortTag, CONTEXT)).toThrow(/malformed nonce or tag/);
    expect(() => keyring.open(sealed, 'channel_connections.credentials:bot-2:SMSChannel')).toThrow(/failed authentication/);
  });

  it('rotates: a previous key still opens, only the current one seals', () => {
    const before = SecretKeyring.of(oldKey);
    const sealedBefore = before.seal('secret', CONTEXT);
    const after = SecretKeyring.of(newKey, [oldKey]);
    expect(after.currentKeyId).toBe(secretKeyId(newKey));
    expect(after.open(sealedBefore, CONTEXT)).toBe('secret');
    const resealed = after.seal(after.open(sealedBefore, CONTEXT), CONTEXT);
    expect(resealed.kid).toBe(secretKeyId(newKey));
    // Once the old key is dropped, only what was re-sealed opens.
    const done = SecretKeyring.of(newKey);
    expect(done.open(resealed, CONTEXT)).toBe('secret');
    expect(() => done.open(sealedBefore, CONTEXT)).toThrow(SecretKeyError);
  });

  it('without a key seals nothing and opens nothing; a key of the wrong size is refused', () => {
    const none = SecretKeyring.none();
    expect(none.sealing).toBe(false);
    expect(() => none.seal('secret', CONTEXT)).toThrow(/no HERALD_SECRET_KEY/);
    expect(() => none.open(SecretKeyring.of(newKey).seal('secret', CONTEXT), CONTEXT)).toThrow(/which is not configured here \(.*no key\)/);
    expect(() => SecretKeyring.of(randomBytes(16))).toThrow(/must be 32 bytes/);
  });
});

describe('stored credentials', () => {
  const keyring = SecretKeyring.of(randomBytes(32));
  const owner = { botId: 'b0t', channel: 'SMSChannel' };
  const credentials = { account_sid: 'AC1', auth_token: 'tok' };

  it('are sealed whole under the current key and opened back', () => {
    const stored = sealCredentials(keyring, credentials, owner);
    expect(isSealedUnderCurrentKey(keyring, stored)).toBe(true);
    expect(JSON.stringify(stored)).not.toMatch(/AC1|tok|account_sid/);
    expect(openCredentials(keyring, stored, owner)).toEqual(credentials);
    // Sealed for one connection, they do not open as another's.
    expect(() => openCredentials(keyring, stored, { ...owner, botId: 'other' })).toThrow(SecretKeyError);
  });

  it('are stored plain without a key, and plain ones (from before the key) are read as they are', () => {
    const plain = sealCredentials(SecretKeyring.none(), credentials, owner);
    expect(plain).toEqual(credentials);
    expect(isSealedUnderCurrentKey(keyring, plain)).toBe(false);
    expect(openCredentials(keyring, plain, owner)).toEqual(credentials);
    expect(openCredentials(SecretKeyring.none(), {}, owner)).toEqual({});
    expect(() => openCredentials(keyring, { n: 1 }, owner)).toThrow(/not an object of strings/);
  });
});
