import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseEnv } from 'node:util';
import { chooseAdminKey } from './admin-key';

describe("pnpm start's admin key", () => {
  let dir: string;
  let envFile: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'herald-admin-key-'));
    envFile = join(dir, '.env');
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('generates one into .env (mode 0600) when none is set anywhere, and finds it there next time', () => {
    writeFileSync(envFile, 'LOG_LEVEL=debug'); // no final newline: the key still gets a line of its own
    const first = chooseAdminKey({}, { LOG_LEVEL: 'debug' }, envFile);
    expect(first.source).toBe('required: ADMIN_API_KEY generated into ./.env');
    const written = parseEnv(readFileSync(envFile, 'utf8'));
    expect(written).toEqual({ LOG_LEVEL: 'debug', ADMIN_API_KEY: expect.stringMatching(/^[0-9a-f]{48}$/) });
    expect(first.env['ADMIN_API_KEY']).toBe(written['ADMIN_API_KEY']);

    const second = chooseAdminKey({}, { ...written }, envFile);
    expect(second.source).toBe('required: ADMIN_API_KEY from ./.env');
    expect(parseEnv(readFileSync(envFile, 'utf8'))).toEqual(written); // nothing appended twice
  });

  it('creates .env readable by its owner only', () => {
    chooseAdminKey({}, {}, envFile);
    expect(statSync(envFile).mode & 0o777).toBe(0o600);
  });

  it('leaves a key from the environment, an explicit empty one, ADMIN_AUTH=disabled and production alone', () => {
    expect(chooseAdminKey({ ADMIN_API_KEY: 'from-the-environment-0123' }, { ADMIN_API_KEY: 'from-the-environment-0123' }, envFile).source).toBe(
      'required: ADMIN_API_KEY from the environment',
    );
    // `ADMIN_API_KEY= pnpm start`: the config refuses it and says how to turn auth off instead.
    expect(chooseAdminKey({ ADMIN_API_KEY: '' }, { ADMIN_API_KEY: '' }, envFile)).toEqual({
      env: { ADMIN_API_KEY: '' },
      source: 'required: ADMIN_API_KEY not set',
    });
    expect(chooseAdminKey({}, { ADMIN_AUTH: 'disabled' }, envFile).source).toMatch(/^none \(ADMIN_AUTH=disabled\)/);
    expect(chooseAdminKey({}, { NODE_ENV: 'production' }, envFile).env['ADMIN_API_KEY']).toBeUndefined();
    expect(() => statSync(envFile)).toThrow(); // no file written by any of them
  });
});
