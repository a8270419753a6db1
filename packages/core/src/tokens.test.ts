import { generateBotToken, generateHookToken, looksLikeHookToken, tokenDigest, tokenMatches } from './tokens';

describe('tokens', () => {
  it('makes URL-safe hook tokens of 256 random bits, all different', () => {
    const tokens = new Set(Array.from({ length: 1000 }, generateHookToken));
    expect(tokens.size).toBe(1000);
    for (const token of tokens) {
      expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(Buffer.from(token, 'base64url')).toHaveLength(32);
      expect(looksLikeHookToken(token)).toBe(true);
    }
  });

  it('rejects hook-token shapes that cannot be ours', () => {
    for (const bad of ['', 'abc', 'x'.repeat(44), `${'a'.repeat(42)}/`, `${'a'.repeat(42)}=`]) {
      expect(looksLikeHookToken(bad)).toBe(false);
    }
  });

  it('prefixes bot tokens', () => {
    expect(generateBotToken()).toMatch(/^hbt_[A-Za-z0-9_-]{43}$/);
  });

  it('matches a token against its digest only', () => {
    const token = generateBotToken();
    const digest = tokenDigest(token);
    expect(tokenMatches(token, digest)).toBe(true);
    expect(tokenMatches(`${token}x`, digest)).toBe(false);
    expect(tokenMatches(generateBotToken(), digest)).toBe(false);
    expect(tokenMatches(token, Buffer.alloc(3))).toBe(false);
  });
});
