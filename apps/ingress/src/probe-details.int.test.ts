import { createMetricsRegistry } from '@herald/service';
import { serveApp, testLogger, type ServedApp } from '@herald/testing';
import { createApp } from './app';
import { AddressList } from './hooks/caller-address';

/**
 * `/metrics` and `/readyz`'s details on the public ingress port: only for direct calls from the
 * addresses of INGRESS_PROBE_DETAILS_FROM (by default loopback and private networks, where
 * Prometheus and orchestrators are). Anyone else gets readiness as a status alone, and a 404
 * for `/metrics`. Tests can only call from loopback, so "outside" is a list without it.
 */
describe('probe details on the public ingress', () => {
  const served: ServedApp[] = [];
  afterAll(() => Promise.all(served.map((s) => s.close())));

  async function ingressAllowing(entries: string[]): Promise<ServedApp> {
    const app = createApp({
      logger: testLogger('ingress'),
      // A dependency down, with an error that names a host and port, as a real one would.
      checks: { postgres: () => Promise.reject(new Error('connect ECONNREFUSED 10.1.2.3:5432')) },
      metrics: createMetricsRegistry('probe-test'),
      hooks: { deps: undefined as never, trustedProxies: null, bodyLimitBytes: 1024 },
      probeDetailsFrom: new AddressList(entries),
    });
    const server = await serveApp(app);
    served.push(server);
    return server;
  }

  it('shows them to a direct call from a listed address', async () => {
    const ingress = await ingressAllowing(['127.0.0.0/8', '::1']);
    const ready = await fetch(`${ingress.url}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({
      status: 'unavailable',
      checks: { postgres: 'down' },
      errors: { postgres: expect.stringContaining('10.1.2.3:5432') },
    });
    const metrics = await fetch(`${ingress.url}/metrics`);
    expect(metrics.status).toBe(200);
    expect(await metrics.text()).toContain('herald_');
  });

  it('gives anyone else the status alone and no metrics, a call through a proxy included', async () => {
    const outside = await ingressAllowing(['10.0.0.0/8']);
    const inside = await ingressAllowing(['127.0.0.0/8', '::1']);
    for (const [ingress, headers] of [
      [outside, {}],
      [inside, { 'x-forwarded-for': '203.0.113.9' }],
      [inside, { forwarded: 'for=203.0.113.9' }],
    ] as const) {
      const ready = await fetch(`${ingress.url}/readyz`, { headers });
      expect(ready.status).toBe(503);
      expect(await ready.json()).toEqual({ status: 'unavailable' });
      const metrics = await fetch(`${ingress.url}/metrics`, { headers });
      expect(metrics.status).toBe(404);
      expect(await metrics.text()).not.toContain('herald_');
    }
    // Liveness stays public: it says nothing about anything.
    expect((await fetch(`${outside.url}/healthz`)).status).toBe(200);
  });
});
