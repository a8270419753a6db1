import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { useTestDatabase } from '@herald/testing';
import { openApiDocument } from './document';
import { documentText } from './write-document';
import { ADMIN_TEST_KEY as KEY, useAdminApp } from '../testing/admin-app';

describe('GET /v1/openapi.json', () => {
  const database = useTestDatabase();
  const admin = useAdminApp(database);

  it('is served without the key', async () => {
    const response = await fetch(`${admin.url}/v1/openapi.json`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ openapi: '3.1.0', paths: expect.any(Object) });
  });

  it('documents only routes the admin app serves (each answers something other than "No route")', async () => {
    const unknownId = '7b0e4d0c-5f57-4b55-9a3c-0d8a3f1e2b11';
    const methods = ['get', 'post', 'put', 'patch', 'delete'] as const;
    let checked = 0;
    for (const [path, item] of Object.entries(openApiDocument.paths)) {
      if (path.startsWith('/hooks/')) continue; // served by the ingress
      for (const method of methods) {
        if (!(method in item)) continue;
        const url = path.replace('{id}', unknownId).replace('{channel}', 'custom');
        const response = await fetch(`${admin.url}${url}`, {
          method: method.toUpperCase(),
          headers: { authorization: `Bearer ${KEY}`, 'content-type': 'application/json' },
          body: method === 'get' || method === 'delete' ? undefined : '{}',
        });
        const body = (await response.json().catch(() => ({}))) as { error?: { message?: string } };
        expect([method, path, body.error?.message ?? '']).not.toEqual([method, path, expect.stringMatching(/^No route for/)]);
        checked++;
      }
    }
    expect(checked).toBe(28); // every admin operation of the document
  });
});

describe('docs/openapi.json', () => {
  it('is the served document (pnpm openapi writes it)', () => {
    const committed = readFileSync(join(__dirname, '../../../../docs/openapi.json'), 'utf8');
    expect(committed === documentText() ? 'current' : 'stale: run pnpm openapi').toBe('current');
  });
});
