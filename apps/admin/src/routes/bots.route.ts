import { Router } from 'express';
import { AppError, PROVIDERS_BY_CHANNEL, generateBotToken, resolveChannel, tokenDigest, acceptedChannelSpellings } from '@herald/core';
import { checkDestinationUrl } from '@herald/channels';
import {
  deleteBot,
  findBot,
  insertBot,
  listBots,
  listChannelConnections,
  revokeBotToken,
  rotateBotToken,
  upsertChannelConnection,
  type ChannelConnection,
  type Db,
  type SecretKeyring,
} from '@herald/db';
import { validateBody } from '@herald/service';
import { notFound, resourceId } from '../http/ids';
import { beforeCreatedAt, createdAtCursorOf, isCreatedAtCursor, page, pageRequest } from '../http/pagination';
import { presentChannelConnection } from '../presenters';
import { channelConnectionSchema, createBotSchema } from '../schemas/admin.schemas';

/**
 * Bots (create, read, delete; rotate or revoke the API token) and their channel connections,
 * each with the `callback_url` its provider reports receipts and opt-outs to (on the ingress,
 * at `publicUrl`). `allowedDestinations` are the private or loopback destinations a
 * connection's base_url may name (OUTBOUND_ALLOWED_DESTINATIONS); the worker checks every
 * request again after DNS resolution, this is the early, clear refusal. Credentials are sealed
 * with `secrets` when saved and never shown again (only their names).
 */
export function botsRouter(db: Db, secrets: SecretKeyring, publicUrl: string, allowedDestinations: readonly string[] = []): Router {
  const router = Router();
  const present = (connection: ChannelConnection) => presentChannelConnection(connection, publicUrl);

  router.post('/v1/bots', async (req, res) => {
    const { name } = validateBody(createBotSchema, req.body);
    const apiToken = generateBotToken();
    const bot = await insertBot(db, { name, apiTokenSha256: tokenDigest(apiToken) });
    // The token is shown this once; only its digest is stored.
    res.status(201).json({ id: bot.id, name: bot.name, api_token: apiToken, created_at: bot.created_at });
  });

  // Every bot, newest first: a lost id is found here rather than with psql.
  router.get('/v1/bots', async (req, res) => {
    const { limit, cursor } = pageRequest(req.query, isCreatedAtCursor);
    const bots = await listBots(db, { limit, before: beforeCreatedAt(cursor) });
    const listed = page(bots, limit, createdAtCursorOf);
    res.json({ ...listed, data: listed.data.map((bot) => ({ id: bot.id, name: bot.name, created_at: bot.created_at })) });
  });

  router.get('/v1/bots/:id', async (req, res) => {
    const bot = await findBot(db, resourceId(req.params['id'], 'bot'));
    if (!bot) throw notFound('bot');
    const channels = await listChannelConnections(db, secrets, bot.id);
    res.json({ id: bot.id, name: bot.name, created_at: bot.created_at, channels: channels.map(present) });
  });

  // Everything of the bot goes, in one transaction; refused while one of its runs is in progress.
  router.delete('/v1/bots/:id', async (req, res) => {
    const deletion = await deleteBot(db, resourceId(req.params['id'], 'bot'));
    if (deletion.outcome === 'not_found') throw notFound('bot');
    if (deletion.outcome === 'run_in_progress') {
      throw new AppError(
        409,
        'conflict',
        'The bot has a run in progress: cancel its broadcasts first (POST /v1/broadcasts/:id/cancel), then delete it',
        deletion.runs.map((run) => ({
          path: `broadcasts.${run.broadcast_id}`,
          message: `run ${run.id} is ${run.status}`,
          expected: 'no run dispatching or delivering',
        })),
      );
    }
    res.status(204).end();
  });

  // A new API token, shown this once; the old one is refused within the ingress cache's lifetime (about a second).
  router.post('/v1/bots/:id/token', async (req, res) => {
    const apiToken = generateBotToken();
    const bot = await rotateBotToken(db, resourceId(req.params['id'], 'bot'), tokenDigest(apiToken));
    if (!bot) throw notFound('bot');
    res.json({ id: bot.id, name: bot.name, api_token: apiToken, created_at: bot.created_at });
  });

  // No token is accepted until the next rotation (hooks not in direct mode answer 401).
  router.delete('/v1/bots/:id/token', async (req, res) => {
    if (!(await revokeBotToken(db, resourceId(req.params['id'], 'bot')))) throw notFound('bot');
    res.status(204).end();
  });

  router.get('/v1/bots/:id/channels', async (req, res) => {
    const bot = await findBot(db, resourceId(req.params['id'], 'bot'));
    if (!bot) throw notFound('bot');
    res.json({ data: (await listChannelConnections(db, secrets, bot.id)).map(present) });
  });

  router.put('/v1/bots/:id/channels/:channel', async (req, res) => {
    const botId = resourceId(req.params['id'], 'bot');
    const channel = resolveChannel(req.params['channel'] ?? '');
    if (!channel) {
      throw new AppError(404, 'not_found', `No such channel: ${req.params['channel']}`, [
        { path: 'channel', message: 'is not a channel', expected: `one of ${acceptedChannelSpellings().join(', ')}` },
      ]);
    }
    const body = validateBody(channelConnectionSchema, req.body);
    const providers = PROVIDERS_BY_CHANNEL[channel];
    if (!providers.includes(body.provider)) {
      throw new AppError(400, 'validation_failed', 'The request is invalid', [
        { path: 'provider', message: `"${body.provider}" does not serve ${channel}`, expected: `one of ${providers.join(', ')}` },
      ]);
    }
    const problems = [];
    if (body.base_url !== null) {
      const checked = checkDestinationUrl(body.base_url, allowedDestinations);
      if (!checked.ok) problems.push({ path: 'base_url', message: checked.reason, expected: 'a public http(s) URL without credentials' });
    } else if (body.provider === 'custom') {
      problems.push({ path: 'base_url', message: 'is required for the custom provider', expected: 'the URL Herald POSTs each message to' });
    }
    if (problems.length) throw new AppError(400, 'validation_failed', 'The request is invalid', problems);
    if (!(await findBot(db, botId))) throw notFound('bot');
    const connection = await upsertChannelConnection(db, secrets, {
      botId,
      channel,
      provider: body.provider,
      credentials: body.credentials,
      baseUrl: body.base_url,
      rateLimitPerSecond: body.rate_limit_per_second,
    });
    res.json(present(connection));
  });

  return router;
}
