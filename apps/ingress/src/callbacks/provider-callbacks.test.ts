import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { googleRbmCallbacks } from './google-rbm.callbacks';
import { metaCallbacks } from './meta.callbacks';
import type { CallbackConnection, CallbackRequest } from './provider-callbacks';
import { twilioCallbacks, twilioSignature } from './twilio.callbacks';

/**
 * Verification against the providers' own vectors (Twilio's from twilio-node's tests) and
 * vectors computed from their documented algorithms over their documented bodies
 * (fixtures/SOURCES.md says where each came from). The route's tests (callbacks.int.test.ts)
 * drive the state changes over HTTP.
 */
const fixture = <T = unknown>(name: string): T => JSON.parse(readFileSync(join(__dirname, 'fixtures', name), 'utf8')) as T;
const fixtureBytes = (name: string): Buffer => readFileSync(join(__dirname, 'fixtures', name));

function connection(provider: string, credentials: Record<string, string>): CallbackConnection {
  return { id: '00000000-0000-4000-8000-000000000001', bot_id: 'b', channel: 'WhatsAppChannel', provider, credentials };
}

function request(init: Partial<CallbackRequest> & { headers?: Record<string, string> }): CallbackRequest {
  const headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    method: init.method ?? 'POST',
    publicUrl: init.publicUrl ?? 'https://hooks.example.com/callbacks/x',
    query: init.query ?? new URLSearchParams(),
    header: (name) => headers[name.toLowerCase()],
    rawBody: init.rawBody ?? Buffer.alloc(0),
    receivedAt: init.receivedAt ?? new Date('2026-11-27T10:00:00Z'),
  };
}

describe("Twilio's X-Twilio-Signature", () => {
  const vector = fixture<{
    authToken: string;
    url: string;
    params: Record<string, string>;
    signature: string;
    moreVectors: Array<{ url: string; params?: Record<string, string | string[]>; signature: string; body?: string }>;
  }>('twilio-signature-vector.json');

  const form = (params: Record<string, string | string[]>) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) for (const v of [value].flat()) search.append(name, v);
    return search;
  };

  it("matches twilio-node's test vectors, repeated names included", () => {
    expect(twilioSignature(vector.authToken, vector.url, form(vector.params))).toBe(vector.signature);
    for (const more of vector.moreVectors.filter((v) => v.body === undefined)) {
      expect(twilioSignature(vector.authToken, more.url, form(more.params ?? vector.params))).toBe(more.signature);
    }
  });

  it('accepts the vector as a request, and refuses it with one parameter changed or the wrong token', () => {
    const body = Buffer.from(form(vector.params).toString());
    const accepted = twilioCallbacks.handle(
      connection('twilio', { auth_token: vector.authToken }),
      request({ publicUrl: vector.url, rawBody: body, headers: { 'X-Twilio-Signature': vector.signature } }),
    );
    expect(accepted.outcome).toBe('accepted');
    const tampered = Buffer.from(form({ ...vector.params, Digits: '9999' }).toString());
    expect(
      twilioCallbacks.handle(
        connection('twilio', { auth_token: vector.authToken }),
        request({ publicUrl: vector.url, rawBody: tampered, headers: { 'X-Twilio-Signature': vector.signature } }),
      ),
    ).toMatchObject({ outcome: 'refused', status: 401 });
    expect(
      twilioCallbacks.handle(
        connection('twilio', { auth_token: 'other' }),
        request({ publicUrl: vector.url, rawBody: body, headers: { 'X-Twilio-Signature': vector.signature } }),
      ),
    ).toMatchObject({ outcome: 'refused', status: 401 });
  });
});

describe("Meta's X-Hub-Signature-256", () => {
  const vector = fixture<{ appSecret: string; body: string; xHubSignature256: string; fileBodyVector: { bodyFile: string; xHubSignature256: string } }>(
    'meta-signature-vector.json',
  );

  it('verifies the raw bytes as sent (compact and pretty-printed bodies alike) and reads the status', () => {
    const meta = connection('whatsapp_cloud', { app_secret: vector.appSecret });
    const compact = metaCallbacks.handle(meta, request({ rawBody: Buffer.from(vector.body), headers: { 'X-Hub-Signature-256': vector.xHubSignature256 } }));
    expect(compact).toMatchObject({
      outcome: 'accepted',
      effects: { receipts: [{ providerMessageId: 'wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBI3MTE5MjVBOTE3MDk5QUVFM0YA', deliveredAt: new Date(1750263773 * 1000) }] },
    });
    const file = fixtureBytes(vector.fileBodyVector.bodyFile);
    expect(metaCallbacks.handle(meta, request({ rawBody: file, headers: { 'X-Hub-Signature-256': vector.fileBodyVector.xHubSignature256 } })).outcome).toBe(
      'accepted',
    );
    // The same JSON re-serialised is other bytes: refused.
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(file.toString())));
    expect(
      metaCallbacks.handle(meta, request({ rawBody: reserialised, headers: { 'X-Hub-Signature-256': vector.fileBodyVector.xHubSignature256 } })),
    ).toMatchObject({ outcome: 'refused', status: 401 });
  });

  it('answers the handshake with the challenge only for the right verify token', () => {
    const handshake = fixture<{ query: Record<string, string>; expectedResponse: { body: string } }>('meta-verification-request.json');
    const meta = connection('whatsapp_cloud', { verify_token: handshake.query['hub.verify_token']!, app_secret: 's' });
    expect(metaCallbacks.handle(meta, request({ method: 'GET', query: new URLSearchParams(handshake.query) }))).toEqual({
      outcome: 'answered',
      answer: { status: 200, contentType: 'text/plain; charset=utf-8', body: handshake.expectedResponse.body },
    });
    const wrong = new URLSearchParams({ ...handshake.query, 'hub.verify_token': 'not-it' });
    expect(metaCallbacks.handle(meta, request({ method: 'GET', query: wrong }))).toMatchObject({ outcome: 'refused', status: 403 });
  });
});

describe("Google RBM's X-Goog-Signature", () => {
  const vector = fixture<{ clientToken: string; envelopeFixture: string; xGoogSignature: string; wrongAlgorithmForContrast: { value: string } }>(
    'rbm-signature-vector.json',
  );
  const rbm = connection('google_rbm', { client_token: vector.clientToken });

  it('verifies HMAC-SHA512 of the decoded event, not of the body', () => {
    const body = fixtureBytes(vector.envelopeFixture);
    expect(googleRbmCallbacks.handle(rbm, request({ rawBody: body, headers: { 'X-Goog-Signature': vector.xGoogSignature } }))).toMatchObject({
      outcome: 'accepted',
      effects: { receipts: [{ providerMessageId: 'MESSAGE_ID', deliveredAt: new Date('2018-12-31T15:01:23.045Z') }] },
    });
    expect(googleRbmCallbacks.handle(rbm, request({ rawBody: body, headers: { 'X-Goog-Signature': vector.wrongAlgorithmForContrast.value } }))).toMatchObject({
      outcome: 'refused',
      status: 401,
    });
  });

  it("answers the webhook's verification with the secret only for the right client token", () => {
    const verification = fixtureBytes('rbm-webhook-verification.json');
    expect(googleRbmCallbacks.handle(rbm, request({ rawBody: verification }))).toMatchObject({
      outcome: 'answered',
      answer: { status: 200, body: '1234567890' },
    });
    const other = connection('google_rbm', { client_token: 'another-token' });
    expect(googleRbmCallbacks.handle(other, request({ rawBody: verification }))).toMatchObject({ outcome: 'refused', status: 403 });
  });
});

describe("Twilio's URL with its default port", () => {
  const vector = fixture<{ authToken: string; params: Record<string, string>; moreVectors: Array<{ url: string; signature: string; note: string }> }>(
    'twilio-signature-vector.json',
  );
  it('accepts a signature over the URL with :443 when PUBLIC_URL names no port, as twilio-node does', () => {
    const withPort = vector.moreVectors.find((v) => v.url.includes(':443'))!;
    const body = Buffer.from(new URLSearchParams(vector.params).toString());
    const outcome = twilioCallbacks.handle(
      connection('twilio', { auth_token: vector.authToken }),
      request({ publicUrl: withPort.url.replace(':443', ''), rawBody: body, headers: { 'X-Twilio-Signature': withPort.signature } }),
    );
    expect(outcome.outcome).toBe('accepted');
  });

  it('accepts a signature over the URL without the port when PUBLIC_URL writes :443 out', () => {
    const body = Buffer.from(new URLSearchParams(vector.params).toString());
    const withPort = vector.moreVectors.find((v) => v.url.includes(':443'))!;
    const outcome = twilioCallbacks.handle(
      connection('twilio', { auth_token: vector.authToken }),
      request({
        publicUrl: withPort.url,
        rawBody: body,
        headers: { 'X-Twilio-Signature': fixture<{ signature: string }>('twilio-signature-vector.json').signature },
      }),
    );
    expect(outcome.outcome).toBe('accepted');
  });
});
