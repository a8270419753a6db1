/**
 * HERALD_SECRET_KEY and HERALD_PREVIOUS_SECRET_KEYS: AES-256 keys, 32 random bytes each, written
 * as 64 hex digits (`openssl rand -hex 32`) or in base64 (`openssl rand -base64 32`; the URL-safe
 * alphabet and a missing `=` are accepted too). The two forms cannot be confused: they differ in
 * length. Undefined for anything else, so the schema can say what is wrong without the value.
 */
export function decodeSecretKey(text: string): Buffer | undefined {
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex');
  if (/^[A-Za-z0-9+/_-]{43}=?$/.test(text)) {
    const key = Buffer.from(text, 'base64');
    return key.length === 32 ? key : undefined;
  }
  return undefined;
}
