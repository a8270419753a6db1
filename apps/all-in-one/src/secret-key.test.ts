import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { decodeSecretKey } from '@herald/config';
import { chooseSecretKey } from './secret-key';

describe("pnpm start's secret key", () => {
  let dir: string;
  let envFile: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-secret-key-'));
    envFile = join(dir, '.env');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates a valid key into .env (mode 0600) when none is set anywhere, and finds it there next time', () => {
    writeFileSync(envFile, 'ADMIN_API_KEY=0123456789abcdef', { mode: 0o600 }); // no final newline
    const first = chooseSecretKey({}, { ADMIN_API_KEY: '0123456789abcdef' }, envFile);
    expect(first.source).toBe('HERALD_SECRET_KEY generated into ./.env');
    const written = parseEnv(readFileSync(envFile, 'utf8'));
    expect(written).toEqual({ ADMIN_API_KEY: '0123456789abcdef', HERALD_SECRET_KEY: expect.any(String) });
    expect(decodeSecretKey(written['HERALD_SECRET_KEY']!)).toHaveLength(32);
    expect(first.env['HERALD_SECRET_KEY']).toBe(written['HERALD_SECRET_KEY']);

    const second = chooseSecretKey({}, { ...written }, envFile);
    expect(second.source).toBe('HERALD_SECRET_KEY from ./.env');
    expect(parseEnv(readFileSync(envFile, 'utf8'))).toEqual(written); // nothing appended twice
  });

  it('creates .env readable by its owner only', () => {
    chooseSecretKey({}, {}, envFile);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
  });

  it('leaves a key from the environment, an explicit empty one (plain text) and production alone', () => {
    expect(chooseSecretKey({ HERALD_SECRET_KEY: 'k' }, { HERALD_SECRET_KEY: 'k' }, envFile).source).toBe('HERALD_SECRET_KEY from the environment');
    expect(chooseSecretKey({ HERALD_SECRET_KEY: '' }, { HERALD_SECRET_KEY: '' }, envFile)).toEqual({
      env: { HERALD_SECRET_KEY: '' },
      source: 'none: channel credentials are stored in plain text',
    });
    expect(chooseSecretKey({}, { NODE_ENV: 'production' }, envFile).env['HERALD_SECRET_KEY']).toBeUndefined();
    expect(() => statSync(envFile)).toThrow(); // no file written by any of them
    writeFileSync(envFile, 'HERALD_SECRET_KEY=\n');
    expect(chooseSecretKey({}, {}, envFile).source).toBe('none: channel credentials are stored in plain text');
  });
});
