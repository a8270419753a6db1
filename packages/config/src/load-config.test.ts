import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { adminConfigSchema, ingressConfigSchema, migrateConfigSchema, workerConfigSchema } from './herald.schema';
import { readEnvironment } from './env-file';
import { ConfigError, loadConfig } from './load-config';

/** HERALD_SECRET_KEY, which production requires (secret-key.test.ts tests it). */
const SECRET_KEY = '0'.repeat(64);

function problemsOf(fn: () => unknown): readonly string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('applies the SPEC §6 defaults to an empty environment', () => {
    const ingress = loadConfig(ingressConfigSchema, {});
    expect(ingress).toMatchObject({
      NODE_ENV: 'development',
      DATABASE_URL: 'postgres://postgres@127.0.0.1:5432/herald',
      REDIS_URL: 'redis://127.0.0.1:6379',
      INGRESS_PORT: 3000,
      QUEUE_PREFIX: 'herald',
      HOOK_BODY_LIMIT_BYTES: 1024 * 1024,
      MAX_TARGETS_PER_CALL: 10_000,
      TRUSTED_PROXIES: [],
      INGRESS_PROCESSES: 1,
    });
    expect(loadConfig(adminConfigSchema, { ADMIN_API_KEY: '0123456789abcdef' })).toMatchObject({
      ADMIN_AUTH: 'key',
      ADMIN_PORT: 3001,
      PUBLIC_URL: 'http://localhost:3000',
    });
    expect(loadConfig(workerConfigSchema, {}).WORKER_PORT).toBe(3002);
  });

  it('keeps everything unless RETENTION_DAYS is set: an upgrade deletes nothing by itself', () => {
    expect(loadConfig(workerConfigSchema, {})).toMatchObject({
      RETENTION_DAYS: 0,
      RETENTION_INTERVAL_MS: 3_600_000,
      RETENTION_BATCH_SIZE: 1_000,
      RETENTION_BATCH_PAUSE_MS: 100,
    });
    expect(loadConfig(workerConfigSchema, { RETENTION_DAYS: '90' }).RETENTION_DAYS).toBe(90);
    expect(problemsOf(() => loadConfig(workerConfigSchema, { RETENTION_DAYS: '-1', RETENTION_BATCH_SIZE: '0' }))).toHaveLength(2);
  });

  it('derives PUBLIC_URL from INGRESS_PORT unless it is set', () => {
    const key = { ADMIN_API_KEY: '0123456789abcdef' };
    expect(loadConfig(adminConfigSchema, { ...key, INGRESS_PORT: '8080' }).PUBLIC_URL).toBe('http://localhost:8080');
    expect(loadConfig(adminConfigSchema, { ...key, PUBLIC_URL: 'https://hooks.example.com', INGRESS_PORT: '8080' }).PUBLIC_URL).toBe(
      'https://hooks.example.com',
    );
  });

  it('requires PUBLIC_URL in production instead of guessing localhost', () => {
    const production = { NODE_ENV: 'production', ADMIN_API_KEY: '0123456789abcdef', HERALD_SECRET_KEY: SECRET_KEY };
    expect(problemsOf(() => loadConfig(adminConfigSchema, production))).toEqual([
      expect.stringMatching(/^PUBLIC_URL is required in production: the address callers reach the ingress at/),
    ]);
    expect(loadConfig(adminConfigSchema, { ...production, PUBLIC_URL: 'https://hooks.example.com' }).PUBLIC_URL).toBe('https://hooks.example.com');
  });

  it('reports a bad DATABASE_URL and a bad port in one error listing both', () => {
    const problems = problemsOf(() => loadConfig(ingressConfigSchema, { DATABASE_URL: 'mysql://root@localhost/herald', INGRESS_PORT: '70000' }));
    expect(problems).toHaveLength(2);
    expect(problems.join('\n')).toMatch(/DATABASE_URL/);
    expect(problems.join('\n')).toMatch(/INGRESS_PORT/);
  });

  it('lists every problem in the error message too, one line each', () => {
    const env = { WORKER_PORT: 'abc', REDIS_URL: 'http://x', LOG_LEVEL: 'loud' };
    expect(problemsOf(() => loadConfig(workerConfigSchema, env))).toHaveLength(3);
    expect(() => loadConfig(workerConfigSchema, env)).toThrow(/Invalid configuration:\n {2}- .*\n {2}- .*\n {2}- .*$/);
  });

  it('requires ADMIN_API_KEY in every environment unless ADMIN_AUTH=disabled says otherwise', () => {
    for (const NODE_ENV of ['development', 'test', 'production']) {
      expect(problemsOf(() => loadConfig(adminConfigSchema, { NODE_ENV, PUBLIC_URL: 'https://hooks.example.com', HERALD_SECRET_KEY: SECRET_KEY }))).toEqual([
        expect.stringMatching(/^ADMIN_API_KEY is required .*set ADMIN_AUTH=disabled$/),
      ]);
    }
    expect(problemsOf(() => loadConfig(adminConfigSchema, { NODE_ENV: 'test', ADMIN_API_KEY: 'short' }))[0]).toMatch(/ADMIN_API_KEY.*16/);
    // An empty value is "not set" (a compose file's `ADMIN_API_KEY=`), not a way around the key.
    expect(problemsOf(() => loadConfig(adminConfigSchema, { ADMIN_API_KEY: '' }))[0]).toMatch(/^ADMIN_API_KEY is required/);

    const open = loadConfig(adminConfigSchema, { ADMIN_AUTH: 'disabled' });
    expect(open).toMatchObject({ ADMIN_AUTH: 'disabled' });
    expect(open.ADMIN_API_KEY).toBeUndefined();
    expect(problemsOf(() => loadConfig(adminConfigSchema, { ADMIN_AUTH: 'disabled', ADMIN_API_KEY: '0123456789abcdef' }))).toEqual([
      'ADMIN_API_KEY is set but ADMIN_AUTH=disabled: unset one of them',
    ]);
    expect(problemsOf(() => loadConfig(adminConfigSchema, { ADMIN_AUTH: 'off' }))[0]).toMatch(/ADMIN_AUTH/);
  });

  it('does not ask the ingress for the admin key', () => {
    expect(() => loadConfig(ingressConfigSchema, { NODE_ENV: 'production', HERALD_SECRET_KEY: SECRET_KEY })).not.toThrow();
  });

  it('parses comma-separated trusted proxies and rejects entries that are not IPs or CIDRs', () => {
    const config = loadConfig(ingressConfigSchema, { TRUSTED_PROXIES: '10.0.0.0/8, ::1 ,192.168.1.7' });
    expect(config.TRUSTED_PROXIES).toEqual(['10.0.0.0/8', '::1', '192.168.1.7']);
    expect(problemsOf(() => loadConfig(ingressConfigSchema, { TRUSTED_PROXIES: '10.0.0.0/8,proxy.local' }))[0]).toMatch(/TRUSTED_PROXIES\[1\]/);
  });

  it('reads a Redis Cluster from REDIS_CLUSTER or its seed nodes, and hash-tags the default prefix', () => {
    expect(loadConfig(workerConfigSchema, {})).toMatchObject({ REDIS_CLUSTER: false, REDIS_CLUSTER_NODES: [], QUEUE_PREFIX: 'herald' });
    expect(loadConfig(workerConfigSchema, { REDIS_CLUSTER: 'true' })).toMatchObject({ REDIS_CLUSTER: true, QUEUE_PREFIX: '{herald}' });
    expect(loadConfig(ingressConfigSchema, { REDIS_CLUSTER_NODES: '10.0.0.2:6379, [fd00::3]:7000' })).toMatchObject({
      REDIS_CLUSTER: true,
      REDIS_CLUSTER_NODES: ['10.0.0.2:6379', '[fd00::3]:7000'],
      QUEUE_PREFIX: '{herald}',
    });
    expect(loadConfig(ingressConfigSchema, { REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'shop-{herald}' }).QUEUE_PREFIX).toBe('shop-{herald}');
  });

  it('refuses, rather than rewrites, a prefix without a hash tag on a cluster', () => {
    for (const prefix of ['herald', '{}herald', 'herald}{']) {
      expect(problemsOf(() => loadConfig(workerConfigSchema, { REDIS_CLUSTER: 'true', QUEUE_PREFIX: prefix }))).toEqual([
        `QUEUE_PREFIX "${prefix}" has no hash tag, which a Redis Cluster needs (all of a queue's keys in one slot): put it in braces, e.g. QUEUE_PREFIX={herald}`,
      ]);
    }
    expect(problemsOf(() => loadConfig(workerConfigSchema, { REDIS_CLUSTER: 'false', REDIS_CLUSTER_NODES: '10.0.0.2:6379' }))).toEqual([
      'REDIS_CLUSTER is false, but REDIS_CLUSTER_NODES names the nodes of a cluster',
    ]);
    expect(problemsOf(() => loadConfig(workerConfigSchema, { REDIS_CLUSTER_NODES: '10.0.0.2:6379,10.0.0.3,10.0.0.4:70000' }))).toEqual([
      'REDIS_CLUSTER_NODES[1] must be host:port, e.g. 10.0.0.5:6379',
      'REDIS_CLUSTER_NODES[2] must be host:port, e.g. 10.0.0.5:6379',
    ]);
  });

  it('treats an empty value as unset', () => {
    expect(loadConfig(migrateConfigSchema, { DATABASE_URL: '' }).DATABASE_URL).toBe('postgres://postgres@127.0.0.1:5432/herald');
  });

  it('returns a frozen object without the unrelated variables of the environment', () => {
    const config = loadConfig(migrateConfigSchema, { PATH: '/usr/bin', HOME: '/root' });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.keys(config).sort()).toEqual(['DATABASE_URL', 'HERALD_PREVIOUS_SECRET_KEYS', 'LOG_LEVEL', 'NODE_ENV', 'QUEUE_BACKEND']);
    expect(() => {
      (config as { NODE_ENV: string }).NODE_ENV = 'production';
    }).toThrow(TypeError);
  });
});

describe('readEnvironment', () => {
  it('reads a .env file and lets the real environment win', () => {
    const dir = mkdtempSync(join(tmpdir(), 'herald-env-'));
    const file = join(dir, '.env');
    writeFileSync(file, 'INGRESS_PORT=4000\n# a comment\nQUEUE_PREFIX="from-file"\n');
    const env = readEnvironment({ QUEUE_PREFIX: 'from-env' }, file);
    expect(env).toMatchObject({ INGRESS_PORT: '4000', QUEUE_PREFIX: 'from-env' });
  });

  it('is the process environment alone when there is no file', () => {
    expect(readEnvironment({ A: '1' }, '/nonexistent/.env')).toEqual({ A: '1' });
  });
});
