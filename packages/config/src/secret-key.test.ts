import { randomBytes } from 'node:crypto';
import { adminConfigSchema, ingressConfigSchema, migrateConfigSchema, workerConfigSchema } from './herald.schema';
import { ConfigError, loadConfig } from './load-config';
import { decodeSecretKey } from './secret-key';

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

const key = randomBytes(32);
// What each process needs besides the secret keys, so the problems below are the keys' alone.
const BASE = { ADMIN_API_KEY: '0123456789abcdef', PUBLIC_URL: 'https://hooks.example.com' };
const SCHEMAS = { ingress: ingressConfigSchema, admin: adminConfigSchema, worker: workerConfigSchema, migrate: migrateConfigSchema };

describe('HERALD_SECRET_KEY', () => {
  it('decodes 32 bytes written as 64 hex digits or base64 (padded or not, URL-safe or not), nothing else', () => {
    expect(decodeSecretKey(key.toString('hex'))).toEqual(key);
    expect(decodeSecretKey(key.toString('hex').toUpperCase())).toEqual(key);
    expect(decodeSecretKey(key.toString('base64'))).toEqual(key);
    expect(decodeSecretKey(key.toString('base64url'))).toEqual(key);
    expect(decodeSecretKey(key.toString('base64').replace(/=$/, ''))).toEqual(key);
    for (const wrong of [
      '',
      'short',
      randomBytes(16).toString('hex'),
      randomBytes(31).toString('base64'),
      randomBytes(33).toString('base64'),
      `${key.toString('hex')}0`,
    ]) {
      expect(decodeSecretKey(wrong)).toBeUndefined();
    }
  });

  it('is read by every process that touches credentials, with the previous keys', () => {
    const previous = randomBytes(32).toString('hex');
    for (const schema of Object.values(SCHEMAS)) {
      expect(
        loadConfig(schema, {
          ...BASE,
          HERALD_SECRET_KEY: key.toString('base64'),
          HERALD_PREVIOUS_SECRET_KEYS: `${previous}, ${randomBytes(32).toString('base64')}`,
        }),
      ).toMatchObject({
        HERALD_SECRET_KEY: key.toString('base64'),
        HERALD_PREVIOUS_SECRET_KEYS: [previous, expect.any(String)],
      });
    }
  });

  it('is required in production only; elsewhere its absence means plain text', () => {
    for (const [name, schema] of Object.entries(SCHEMAS)) {
      expect({ name, problems: problemsOf(() => loadConfig(schema, { ...BASE, NODE_ENV: 'production', HERALD_BACKEND: 'services' })) }).toEqual({
        name,
        problems: [expect.stringMatching(/^HERALD_SECRET_KEY is required in production: it encrypts channel credentials/)],
      });
      expect(loadConfig(schema, { ...BASE, NODE_ENV: 'test' })).toMatchObject({ HERALD_PREVIOUS_SECRET_KEYS: [] });
      expect(loadConfig(schema, { ...BASE, NODE_ENV: 'development', HERALD_SECRET_KEY: '' }).HERALD_SECRET_KEY).toBeUndefined();
    }
  });

  it('refuses a malformed key without repeating it, and previous keys without a current one', () => {
    const bad = 'not-a-key-but-maybe-a-password';
    const problems = problemsOf(() =>
      loadConfig(workerConfigSchema, { HERALD_SECRET_KEY: bad, HERALD_PREVIOUS_SECRET_KEYS: `${key.toString('hex')},${bad}x` }),
    );
    expect(problems).toEqual([
      'HERALD_SECRET_KEY must be 32 random bytes written as 64 hex digits or in base64 (e.g. `openssl rand -base64 32`)',
      'HERALD_PREVIOUS_SECRET_KEYS[1] must be 32 random bytes written as 64 hex digits or in base64 (e.g. `openssl rand -base64 32`)',
    ]);
    expect(problems.join('\n')).not.toContain(bad);
    expect(problemsOf(() => loadConfig(ingressConfigSchema, { HERALD_PREVIOUS_SECRET_KEYS: key.toString('hex') }))).toEqual([
      'HERALD_PREVIOUS_SECRET_KEYS needs HERALD_SECRET_KEY: the previous keys only decrypt',
    ]);
  });
});
