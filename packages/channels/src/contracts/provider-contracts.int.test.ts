/**
 * Contract checks: the requests the Twilio and WhatsApp adapters really build, sent to a Prism
 * mock of each provider's own OpenAPI document (`packages/channels/contracts/`). Prism's mock
 * validates every request against the operation it routes to and answers one the document
 * does not allow with 422 and the reasons (401 without the declared credentials), whatever
 * the flags: `--errors` only adds *response* validation, so it is not passed. With `--dynamic`
 * off it answers an accepted request with the document's own example, so the adapters' reading
 * of the answer is checked against the provider's example too. Prism needs no network.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import type { ChannelAdapter, ConnectionSettings, OutboundMessage, OutboundResponse, SendResult } from '../adapter';
import { twilioAdapter, whatsappCloudAdapter } from '../adapters';
import { createOutboundClient, type OutboundClient } from '../http/outbound-client';
import { outboundMessage } from '../testing/adapter-test-kit';

const CONTRACTS = join(__dirname, '../../contracts');
const TWILIO_DOCUMENT = join(CONTRACTS, 'twilio_api_v2010.json');
const WHATSAPP_DOCUMENT = join(CONTRACTS, 'whatsapp-business-messaging-api_v23.0.yaml');
const PRISM_CLI = join(dirname(require.resolve('@stoplight/prism-cli/package.json')), 'dist/index.js');

/** Prism parses the whole document before it listens: seconds each, more on two busy cores. */
const STARTUP_TIMEOUT_MS = 60_000;

/**
 * The properties every message type shares (each type is `allOf` it and its own), verbatim and
 * whole, so that the erratum below stops matching once Meta changes any of it.
 */
function baseMessageProperties(extra: string[] = []): string {
  return [
    '    BaseMessageProperties:',
    '      type: object',
    '      description: Common properties shared by all message types',
    '      required:',
    '      - messaging_product',
    '      - recipient_type',
    '      - to',
    '      - type',
    '      properties:',
    ...extra,
    '        messaging_product:',
    '          type: string',
    '          example: whatsapp',
    '        recipient_type:',
    '          type: string',
    '          enum:',
    '          - individual',
    '          - group',
    '          description: The type of recipient.',
    '          example: individual',
    '        to:',
    '          type: string',
    "          description: The recipient's phone number for individual messages, and group-id for group message.",
    "          example: '19505550005'",
    '        type:',
    '          type: string',
    '          description: The type of message',
    '        context:',
    "          $ref: '#/components/schemas/MessageContext'",
    '',
  ].join('\n');
}

/**
 * Where Meta's document is wrong about the Cloud API, corrected in a temporary copy (the copy in
 * the repository stays verbatim). Each `find` must occur exactly once: when Meta fixes its
 * document the erratum stops matching and this test says so, instead of loosening it silently.
 */
const WHATSAPP_ERRATA: ReadonlyArray<{ why: string; find: string; replace: string }> = [
  {
    why:
      '`biz_opaque_callback_data` (a string of at most 512 characters that status webhooks echo) is a ' +
      "send parameter in Meta's Messages reference, but the document declares it on calls only",
    find: baseMessageProperties(),
    replace: baseMessageProperties(['        biz_opaque_callback_data:', '          type: string', '          maxLength: 512']),
  },
  {
    why:
      '`template.language.policy` ("deterministic", its only value) is required by the schema, yet the ' +
      "document's own sendMessage examples (hello_world, intro_catalog_offer…) omit it, as the API allows",
    find: ['    LanguageObject:', '      type: object', '      required:', '      - policy', '      - code', ''].join('\n'),
    replace: ['    LanguageObject:', '      type: object', '      required:', '      - code', ''].join('\n'),
  },
];

const TWILIO_ACCOUNT_SID = `AC${'0123456789abcdef'.repeat(2)}`;
const TWILIO_SERVICE_SID = `MG${'fedcba9876543210'.repeat(2)}`;
const TWILIO_MESSAGES_PATH = `/2010-04-01/Accounts/${TWILIO_ACCOUNT_SID}/Messages.json`;
const WHATSAPP_PHONE_NUMBER_ID = '106540352242922';

interface PrismMock {
  url: string;
  close(): Promise<void>;
}

let workDir: string;
let twilio: PrismMock;
let whatsapp: PrismMock;
let http: OutboundClient;

beforeAll(async () => {
  workDir = await mkdtemp(join(tmpdir(), 'herald-contracts-'));
  const whatsappDocument = join(workDir, 'whatsapp.yaml');
  await writeFile(whatsappDocument, withErrata(await readFile(WHATSAPP_DOCUMENT, 'utf8'), WHATSAPP_ERRATA));
  const started = await Promise.allSettled([startPrism(TWILIO_DOCUMENT), startPrism(whatsappDocument)]);
  const mocks = started.flatMap((outcome) => (outcome.status === 'fulfilled' ? [outcome.value] : []));
  const failure = started.find((outcome) => outcome.status === 'rejected');
  if (failure) {
    await Promise.all(mocks.map((mock) => mock.close()));
    throw failure.reason;
  }
  [twilio, whatsapp] = mocks as [PrismMock, PrismMock];
  http = createOutboundClient({ allowedDestinations: ['127.0.0.0/8'] });
}, STARTUP_TIMEOUT_MS);

afterAll(async () => {
  await http?.close();
  await Promise.all([twilio?.close(), whatsapp?.close()]);
  if (workDir) await rm(workDir, { recursive: true, force: true });
});

describe("Twilio adapter against Twilio's OpenAPI document", () => {
  const connection = (credentials: Record<string, string>): ConnectionSettings => ({
    id: randomUUID(),
    channel: 'SMSChannel',
    provider: 'twilio',
    credentials: { account_sid: TWILIO_ACCOUNT_SID, auth_token: 'a-test-auth-token', ...credentials },
    baseUrl: twilio.url,
  });

  it('sends with From', async () => {
    const result = await sendAccepted(twilioAdapter, connection({ from: '+15005550006' }), message());
    expect(result).toEqual({ outcome: 'sent', providerMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/i) });
  });

  it('sends through a Messaging Service', async () => {
    const result = await sendAccepted(twilioAdapter, connection({ messaging_service_sid: TWILIO_SERVICE_SID }), message());
    expect(result).toEqual({ outcome: 'sent', providerMessageId: expect.stringMatching(/^SM[0-9a-f]{32}$/i) });
  });

  it('is refused without To (the check can fail)', async () => {
    const answer = await http.request({
      method: 'POST',
      url: `${twilio.url}${TWILIO_MESSAGES_PATH}`,
      headers: {
        Authorization: `Basic ${Buffer.from(`${TWILIO_ACCOUNT_SID}:a-test-auth-token`).toString('base64')}`,
        'Content-Type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ Body: 'Your code is 1234', From: '+15005550006' }).toString(),
    });
    expect(answer.status).toBe(422);
    expect(violations(answer)).toContain("Request body must have required property 'To'");
  });
});

describe("WhatsApp Cloud adapter against Meta's OpenAPI document", () => {
  const connection: () => ConnectionSettings = () => ({
    id: randomUUID(),
    channel: 'WhatsAppChannel',
    provider: 'whatsapp_cloud',
    credentials: { access_token: 'EAAtestaccesstoken', phone_number_id: WHATSAPP_PHONE_NUMBER_ID },
    // The document's server is the bare Graph root: `/{Version}/{Phone-Number-ID}/messages` is served from `/`.
    baseUrl: whatsapp.url,
  });
  const sent = { outcome: 'sent', providerMessageId: expect.stringMatching(/^wamid\./) };

  it('sends a text message', async () => {
    expect(await sendAccepted(whatsappCloudAdapter, connection(), message())).toEqual(sent);
  });

  it('sends a template with body parameters', async () => {
    const template = { name: 'order_update', language: 'it', bodyParameters: ['Ada', '#42'] };
    expect(await sendAccepted(whatsappCloudAdapter, connection(), message({ text: '', template }))).toEqual(sent);
  });

  it('sends a template without parameters', async () => {
    const template = { name: 'hello_world', language: 'en_US', bodyParameters: [] };
    expect(await sendAccepted(whatsappCloudAdapter, connection(), message({ text: '', template }))).toEqual(sent);
  });

  it('is refused without messaging_product (the check can fail)', async () => {
    const answer = await whatsappRequest({ recipient_type: 'individual', to: '393331111111', type: 'text', text: { body: 'Hi' } });
    expect(answer.status).toBe(422);
    expect(violations(answer)).toContain("Request body must have required property 'messaging_product'");
  });

  it('still refuses biz_opaque_callback_data over 512 characters (the erratum adds no more than it says)', async () => {
    const answer = await whatsappRequest({
      messaging_product: 'whatsapp',
      recipient_type: 'individual',
      to: '393331111111',
      biz_opaque_callback_data: 'x'.repeat(513),
      type: 'text',
      text: { body: 'Hi' },
    });
    expect(answer.status).toBe(422);
    expect(violations(answer)).toContain('Request body property biz_opaque_callback_data must NOT have more than 512 characters');
  });

  function whatsappRequest(body: Record<string, unknown>): Promise<OutboundResponse> {
    return http.request({
      method: 'POST',
      url: `${whatsapp.url}/v23.0/${WHATSAPP_PHONE_NUMBER_ID}/messages`,
      headers: { Authorization: 'Bearer EAAtestaccesstoken', 'Content-Type': 'application/json' },
      body: JSON.stringify(body),
    });
  }
});

function message(overrides: Partial<OutboundMessage> = {}): OutboundMessage {
  return outboundMessage(
    { user_id: '393331111111', bot_channel: 'SMSChannel', user_phone_number: '+39 333 111 1111', first_name: 'Ada' },
    { text: 'Your code is 1234 ✓', ...overrides },
  );
}

/**
 * Sends through the adapter and fails with Prism's reasons when the answer is not a 2xx: the
 * adapter's own classification of a 422 would keep only the status.
 */
async function sendAccepted(adapter: ChannelAdapter, connection: ConnectionSettings, outbound: OutboundMessage): Promise<SendResult> {
  const exchanges: Array<{ body: string | undefined; answer: OutboundResponse }> = [];
  const recording = {
    async request(request: Parameters<OutboundClient['request']>[0]): Promise<OutboundResponse> {
      const answer = await http.request(request);
      exchanges.push({ body: request.body, answer });
      return answer;
    },
  };
  const result = await adapter.send(connection, outbound, recording);
  const refused = exchanges.find(({ answer }) => answer.status < 200 || answer.status >= 300);
  if (refused) {
    throw new Error(
      `the document refuses the ${adapter.provider} adapter's request (HTTP ${refused.answer.status}):\n` +
        `${violations(refused.answer).join('\n') || refused.answer.body}\nrequest body: ${refused.body}`,
    );
  }
  return result;
}

/**
 * Prism's reasons for refusing a request (`validation[].message` of its problem+json), each once:
 * a `oneOf` of message types repeats the reasons shared by every branch.
 */
function violations(answer: OutboundResponse): string[] {
  try {
    const problem = JSON.parse(answer.body) as { validation?: Array<{ message?: unknown }> };
    return [...new Set((problem.validation ?? []).map(({ message }) => String(message)))];
  } catch {
    return [];
  }
}

function withErrata(document: string, errata: typeof WHATSAPP_ERRATA): string {
  return errata.reduce((patched, { why, find, replace }) => {
    const occurrences = patched.split(find).length - 1;
    if (occurrences !== 1) {
      throw new Error(`erratum found ${occurrences} times, expected once (has the document changed?): ${why}`);
    }
    return patched.replace(find, () => replace);
  }, document);
}

/**
 * `prism mock` on a free port (`--port 0`: Prism prints the port it got), resolved once it
 * listens. Its output is read to the end: a full pipe would block it mid-request.
 */
async function startPrism(document: string): Promise<PrismMock> {
  const child = spawn(process.execPath, [PRISM_CLI, 'mock', document, '--host', '127.0.0.1', '--port', '0', '--dynamic=false'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
  });
  let output = '';
  const keep = (chunk: Buffer): void => {
    output = (output + chunk.toString('utf8')).slice(-20_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  const close = () => stopProcess(child);
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`prism did not listen within ${STARTUP_TIMEOUT_MS} ms:\n${output}`)), STARTUP_TIMEOUT_MS - 1_000);
      const onData = (): void => {
        const listening = /Prism is listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(output);
        if (listening?.[1]) settle(() => resolve(listening[1]!));
      };
      const onExit = (code: number | null, signal: string | null): void =>
        settle(() => reject(new Error(`prism exited (${code ?? signal}) before listening:\n${output}`)));
      const settle = (finish: () => void): void => {
        clearTimeout(timer);
        child.stdout?.off('data', onData);
        child.off('exit', onExit);
        finish();
      };
      child.stdout?.on('data', onData);
      child.once('exit', onExit);
    });
    return { url, close };
  } catch (error) {
    await close();
    throw error;
  }
}

async function stopProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = once(child, 'exit');
  child.kill('SIGTERM');
  const force = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(force);
}
