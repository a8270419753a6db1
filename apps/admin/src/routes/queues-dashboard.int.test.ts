import { useTestDatabase } from '@herald/testing';
import { ADMIN_TEST_KEY as KEY, useAdminAppWithDashboard } from '../testing/admin-app';

describe('the queue dashboard at /ops/queues', () => {
  const database = useTestDatabase();
  const admin = useAdminAppWithDashboard(database);

  const basic = (user: string, password: string) => `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`;

  it('asks a browser to log in, and refuses a wrong key', async () => {
    const anonymous = await fetch(`${admin.url}/ops/queues`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toMatch(/^Basic realm="Herald"/);
    expect((await fetch(`${admin.url}/ops/queues`, { headers: { authorization: basic('ops', `${KEY}x`) } })).status).toBe(401);
  });

  it('serves the board with the key as the Basic password, and its API with the Bearer key', async () => {
    const page = await fetch(`${admin.url}/ops/queues`, { headers: { authorization: basic('ops', KEY) } });
    expect(page.status).toBe(200);
    const html = await page.text();
    expect(html).toContain('<html');
    expect(html).toContain('static/css/'); // its own stylesheet stays
    // Works with no internet: nothing loaded from another origin (bull-board links Google Fonts).
    expect(html).not.toMatch(/(href|src)="https?:/);
    await admin.producer.armTimer('broadcast.dispatch', { broadcastId: '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11' }, 60_000);
    const api = await fetch(`${admin.url}/ops/queues/api/queues`, { headers: { authorization: `Bearer ${KEY}` } });
    const body = (await api.json()) as { queues: Array<{ name: string; counts: Record<string, number> }> };
    expect(body.queues.map((q) => q.name).sort()).toEqual([
      'deliver-custom',
      'deliver-messenger',
      'deliver-rcs',
      'deliver-sms',
      'deliver-telegram',
      'deliver-web',
      'deliver-whatsapp',
      'dispatch',
      'maintenance',
    ]);
    expect(body.queues.find((q) => q.name === 'dispatch')?.counts['delayed']).toBe(1);
  });
});
