import { Router } from 'express';
import {
  AppError,
  generateHookToken,
  hookTokenHint,
  normaliseAudience,
  resolveChannel,
  tokenDigest,
  type AudienceInput,
  type ChannelName,
  type ErrorDetail,
} from '@herald/core';
import {
  deleteBroadcast,
  findBot,
  findBroadcast,
  insertBroadcast,
  listBroadcasts,
  rotateHookToken,
  updateBroadcast,
  type BroadcastSettings,
  type Db,
} from '@herald/db';
import { validateBody } from '@herald/service';
import { notFound, resourceId } from '../http/ids';
import { beforeCreatedAt, createdAtCursorOf, isCreatedAtCursor, page, pageRequest } from '../http/pagination';
import { presentBroadcast, presentBroadcastWithHook } from '../presenters';
import { createBroadcastSchema, updateBroadcastSchema } from '../schemas/admin.schemas';

interface MessageInput {
  text: string;
  channels?: Record<string, unknown>;
}

/**
 * Broadcasts: create under a bot, read, update, delete, rotate the hook token. The hook URL is
 * in the answers of create and rotate only: the token is not stored, just its digest and hint.
 */
export function broadcastsRouter(db: Db, publicUrl: string): Router {
  const router = Router();

  router.get('/v1/bots/:id/broadcasts', async (req, res) => {
    const botId = resourceId(req.params['id'], 'bot');
    const { limit, cursor } = pageRequest(req.query, isCreatedAtCursor);
    if (!(await findBot(db, botId))) throw notFound('bot');
    const broadcasts = await listBroadcasts(db, botId, { limit, before: beforeCreatedAt(cursor) });
    const listed = page(broadcasts, limit, createdAtCursorOf);
    res.json({ ...listed, data: listed.data.map((broadcast) => presentBroadcast(broadcast, publicUrl)) });
  });

  router.post('/v1/bots/:id/broadcasts', async (req, res) => {
    const botId = resourceId(req.params['id'], 'bot');
    const settings = normaliseSettings(validateBody(createBroadcastSchema, req.body)) as BroadcastSettings;
    if (!(await findBot(db, botId))) throw notFound('bot');
    const token = generateHookToken();
    const broadcast = await insertBroadcast(db, botId, settings, { sha256: tokenDigest(token), hint: hookTokenHint(token) });
    res.status(201).json(presentBroadcastWithHook(broadcast, publicUrl, token));
  });

  router.get('/v1/broadcasts/:id', async (req, res) => {
    const broadcast = await findBroadcast(db, resourceId(req.params['id'], 'broadcast'));
    if (!broadcast) throw notFound('broadcast');
    res.json(presentBroadcast(broadcast, publicUrl));
  });

  router.patch('/v1/broadcasts/:id', async (req, res) => {
    const id = resourceId(req.params['id'], 'broadcast');
    const changes = normaliseSettings(validateBody(updateBroadcastSchema, req.body));
    const broadcast = await updateBroadcast(db, id, changes);
    if (!broadcast) throw notFound('broadcast');
    res.json(presentBroadcast(broadcast, publicUrl));
  });

  router.delete('/v1/broadcasts/:id', async (req, res) => {
    if (!(await deleteBroadcast(db, resourceId(req.params['id'], 'broadcast')))) throw notFound('broadcast');
    res.status(204).end();
  });

  // The old URL answers 404 within the ingress cache's lifetime (about a second). Also the way
  // to a lost URL: a new one, shown this once.
  router.post('/v1/broadcasts/:id/rotate-hook', async (req, res) => {
    const token = generateHookToken();
    const broadcast = await rotateHookToken(db, resourceId(req.params['id'], 'broadcast'), { sha256: tokenDigest(token), hint: hookTokenHint(token) });
    if (!broadcast) throw notFound('broadcast');
    res.json(presentBroadcastWithHook(broadcast, publicUrl, token));
  });

  return router;
}

/** Audience criteria resolved and join expanded; per-channel message keys in canonical names. */
function normaliseSettings(input: Record<string, unknown>): Partial<BroadcastSettings> {
  const settings = { ...input } as Partial<BroadcastSettings> & { audience?: unknown; message?: unknown };
  const errors: ErrorDetail[] = [];
  if (input['audience'] !== undefined) {
    const result = normaliseAudience(input['audience'] as AudienceInput);
    if ('errors' in result) errors.push(...result.errors);
    else settings.audience = result.audience;
  }
  if (input['message'] !== undefined) {
    const message = input['message'] as MessageInput;
    const channels = message.channels && canonicalChannels(message.channels, errors);
    settings.message = { ...message, ...(channels ? { channels } : {}) };
  }
  if (errors.length) throw new AppError(400, 'validation_failed', 'The request is invalid', errors);
  return settings;
}

/**
 * Overrides keyed by canonical channel name, so the worker finds `channels.WhatsAppChannel`
 * whatever spelling was sent. Two spellings of one channel are refused rather than merged: which
 * one should win is the caller's call, not ours.
 */
function canonicalChannels(channels: Record<string, unknown>, errors: ErrorDetail[]): Partial<Record<ChannelName, unknown>> {
  const canonical: Partial<Record<ChannelName, unknown>> = {};
  const spelling = new Map<ChannelName, string>();
  for (const [key, override] of Object.entries(channels)) {
    const channel = resolveChannel(key)!; // the schema accepts only channel names
    const earlier = spelling.get(channel);
    if (earlier !== undefined) {
      errors.push({ path: `message.channels.${key}`, message: `names the same channel as "${earlier}" (${channel})`, expected: 'one entry per channel' });
      continue;
    }
    spelling.set(channel, key);
    canonical[channel] = override;
  }
  return canonical;
}
