import { chooseBackend } from './backend';
import { ConfigError } from './load-config';

describe('chooseBackend', () => {
  it('runs embedded when nothing is configured, outside production', () => {
    expect(chooseBackend({})).toBe('embedded');
    expect(chooseBackend({ NODE_ENV: 'development' })).toBe('embedded');
  });

  it('runs on the services once a service URL is set', () => {
    expect(chooseBackend({ DATABASE_URL: 'postgres://db/herald' })).toBe('services');
    expect(chooseBackend({ REDIS_URL: 'redis://cache' })).toBe('services');
    expect(chooseBackend({ REDIS_CLUSTER_NODES: 'cache-1:6379,cache-2:6379' })).toBe('services');
    expect(chooseBackend({ NODE_ENV: 'production', DATABASE_URL: 'postgres://db/herald', REDIS_URL: 'redis://cache' })).toBe('services');
  });

  it('does as HERALD_BACKEND says, whatever else is set', () => {
    expect(chooseBackend({ HERALD_BACKEND: 'embedded', DATABASE_URL: 'postgres://db/herald' })).toBe('embedded');
    expect(chooseBackend({ HERALD_BACKEND: 'services' })).toBe('services');
    expect(chooseBackend({ HERALD_BACKEND: 'embedded', NODE_ENV: 'production' })).toBe('embedded');
  });

  it('never picks one silently in production: the error names the settings', () => {
    expect(() => chooseBackend({ NODE_ENV: 'production' })).toThrow(ConfigError);
    expect(() => chooseBackend({ NODE_ENV: 'production' })).toThrow(/HERALD_BACKEND=services with DATABASE_URL and REDIS_URL.*HERALD_BACKEND=embedded/);
  });

  it('refuses an unknown HERALD_BACKEND', () => {
    expect(() => chooseBackend({ HERALD_BACKEND: 'sqlite' })).toThrow(/HERALD_BACKEND is "sqlite": it must be embedded or services/);
  });
});
