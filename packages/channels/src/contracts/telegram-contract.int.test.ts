/**
 * Telegram publishes no OpenAPI document: the Telegram adapter's `sendMessage` is checked
 * against what grammY (a well-kept Bot API SDK) sends for the same call. Both send to one
 * loopback server that records each request with its parameters decoded as Telegram decodes
 * them, whatever the encoding (JSON, urlencoded or multipart form).
 */
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Api } from 'grammy';
import type { ConnectionSettings, OutboundMessage } from '../adapter';
import { telegramAdapter } from '../adapters';
import { createOutboundClient, type OutboundClient } from '../http/outbound-client';
import { outboundMessage } from '../testing/adapter-test-kit';

/** The token format of BotFather (the Bot API documentation's own example). */
const TOKEN = '123456:ABC-DEF1234ghIkl-zyx57W2v1u123ew11';
const TEXT = 'Ciao Ada 👋\nYour order #42 ships today & arrives <b>tomorrow</b>.';

interface RecordedRequest {
  method: string | undefined;
  path: string | undefined;
  /** The media type alone: JSON and forms are all valid for the Bot API, their parameters are compared below. */
  mediaType: string;
  params: Record<string, unknown>;
}

let server: Server;
let apiRoot: string;
let http: OutboundClient;
const recorded: RecordedRequest[] = [];

beforeAll(async () => {
  server = createServer((request, response) => {
    void record(request).then(
      (entry) => {
        recorded.push(entry);
        const chatId = entry.params['chat_id'];
        response.setHeader('Content-Type', 'application/json');
        response.end(JSON.stringify({ ok: true, result: { message_id: 7, date: 0, chat: { id: chatId, type: 'private' }, text: entry.params['text'] } }));
      },
      (error: unknown) => {
        response.statusCode = 400;
        response.end(JSON.stringify({ ok: false, error_code: 400, description: String(error) }));
      },
    );
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  apiRoot = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  http = createOutboundClient({ allowedDestinations: ['127.0.0.0/8'] });
});
beforeEach(() => {
  recorded.length = 0;
});
afterAll(async () => {
  await http.close();
  // grammY keeps its connection alive in an agent of its own
  server.closeAllConnections();
  server.close();
  await once(server, 'close');
});

describe('Telegram adapter against grammY', () => {
  // grammY is called the way its users call it: a number for a numeric chat id, a string for a username.
  it.each([
    ['a user', 123456789],
    ['a supergroup', -1001234567890],
    ['a public channel by username', '@herald_news'],
  ])('sends sendMessage to %s as grammY does', async (_who, chatId) => {
    await new Api(TOKEN, { apiRoot }).sendMessage(chatId, TEXT);
    const result = await telegramAdapter.send(connection(), message(String(chatId)), http);

    expect(result).toEqual({ outcome: 'sent', providerMessageId: '7' });
    const [grammy, herald] = recorded;
    expect(grammy).toMatchObject({ method: 'POST', path: `/bot${TOKEN}/sendMessage` });
    expect(herald).toEqual({ ...grammy, params: expect.anything() });
    expect(asTelegramReadsThem(herald!.params)).toEqual(asTelegramReadsThem(grammy!.params));
    expect(asTelegramReadsThem(herald!.params)).toEqual({ chat_id: String(chatId), text: TEXT });
  });

  it('differs from grammY only in the JSON type of a numeric chat_id', async () => {
    await new Api(TOKEN, { apiRoot }).sendMessage(123456789, TEXT);
    await telegramAdapter.send(connection(), message('123456789'), http);
    // Contact ids are stored as strings; the Bot API takes chat_id as "Integer or String".
    expect(recorded.map(({ params }) => params['chat_id'])).toEqual([123456789, '123456789']);
  });
});

/**
 * The parameters as the Bot API reads them: `chat_id` is "Integer or String" (a number and its
 * decimal string name the same chat), every other parameter is compared exactly.
 */
function asTelegramReadsThem(params: Record<string, unknown>): Record<string, unknown> {
  const chatId = params['chat_id'];
  return { ...params, chat_id: typeof chatId === 'number' ? String(chatId) : chatId };
}

function connection(): ConnectionSettings {
  return { id: randomUUID(), channel: 'TelegramChannel', provider: 'telegram', credentials: { bot_token: TOKEN }, baseUrl: apiRoot };
}

function message(chatId: string): OutboundMessage {
  return outboundMessage({ user_id: chatId, bot_channel: 'TelegramChannel', first_name: 'Ada' }, { text: TEXT });
}

/** One request with its parameters decoded by content type, as the Bot API accepts them. */
async function record(request: IncomingMessage): Promise<RecordedRequest> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  const body = Buffer.concat(chunks);
  const contentType = request.headers['content-type'] ?? '';
  const mediaType = contentType.split(';')[0]!.trim().toLowerCase();
  return { method: request.method, path: request.url, mediaType, params: await decode(mediaType, contentType, body) };
}

async function decode(mediaType: string, contentType: string, body: Buffer): Promise<Record<string, unknown>> {
  switch (mediaType) {
    case 'application/json':
      return JSON.parse(body.toString('utf8')) as Record<string, unknown>;
    case 'application/x-www-form-urlencoded':
      return Object.fromEntries(new URLSearchParams(body.toString('utf8')));
    case 'multipart/form-data': {
      const form = await new Response(body, { headers: { 'Content-Type': contentType } }).formData();
      return Object.fromEntries([...form.entries()].map(([name, value]) => [name, typeof value === 'string' ? value : '(file)']));
    }
    default:
      throw new Error(`unexpected content type ${JSON.stringify(contentType)}`);
  }
}
