import type { RequestHandler, Response } from 'express';
import { AppError, isUuid, type ErrorCode } from '@herald/core';
import { findChannelConnection, type Db, type SecretKeyring } from '@herald/db';
import type { Logger } from '@herald/logger';
import { Counter, type Registry } from 'prom-client';
import { customCallbacks } from '../callbacks/custom.callbacks';
import { googleRbmCallbacks } from '../callbacks/google-rbm.callbacks';
import { metaCallbacks } from '../callbacks/meta.callbacks';
import type { CallbackAnswer, CallbackConnection, ProviderCallbacks } from '../callbacks/provider-callbacks';
import { CallbackRecorder } from '../callbacks/record-callbacks';
import { EffectRouter } from '../callbacks/route-effects';
import { telegramCallbacks } from '../callbacks/telegram.callbacks';
import { twilioCallbacks } from '../callbacks/twilio.callbacks';
import { LoadingCache } from '../loading-cache';
import { readRawBody } from '../hooks/read-body';

/** The path providers call back on; `:connectionId` is the channel connection's id. */
export const CALLBACK_PATH = '/callbacks/:connectionId';

/** Each provider's callbacks, by the provider a connection names (the web channel has none). */
const CALLBACKS_BY_PROVIDER: Readonly<Record<string, ProviderCallbacks>> = {
  whatsapp_cloud: metaCallbacks,
  messenger: metaCallbacks,
  twilio: twilioCallbacks,
  google_rbm: googleRbmCallbacks,
  telegram: telegramCallbacks,
  custom: customCallbacks,
};

export interface CallbacksRouteOptions {
  db: Db;
  /** Opens the connections' credentials, which verify the callbacks (HERALD_SECRET_KEY). */
  secrets: SecretKeyring;
  logger: Logger;
  /**
   * The address providers reach the ingress at (PUBLIC_URL): Twilio signs the URL it called.
   * Unset, it is rebuilt from each request's Host.
   */
  publicUrl: string | undefined;
  bodyLimitBytes: number;
  metrics: Registry;
}

/**
 * `GET|POST /callbacks/:connectionId` (issue 12): providers' receipts, inbound opt-outs and
 * handshakes. Each call is verified by its provider's scheme over the raw bytes before any of
 * it is parsed or trusted; one that fails is refused and records nothing. A verified call is
 * answered once what it reports is committed, so a provider that gets no 200 calls again.
 */
export function callbacksHandler({ db, secrets, logger, publicUrl, bodyLimitBytes, metrics }: CallbacksRouteOptions): RequestHandler<{ connectionId: string }> {
  const recorder = new CallbackRecorder(db, metrics);
  const router = new EffectRouter(db, secrets);
  // Brief, so a credential changed by the admin API applies within seconds; bounded, and misses
  // cached, so random ids cost a scanner more than the database.
  const connections = new LoadingCache<CallbackConnection | null>(async (id) => (await findChannelConnection(db, secrets, id)) ?? null, 2_000, 10_000);
  const calls = new Counter({
    name: 'herald_callbacks_total',
    help: 'Provider callbacks by provider and outcome (accepted, answered: a handshake, refused)',
    labelNames: ['provider', 'outcome'],
    registers: [metrics],
  });
  const base = publicUrl?.replace(/\/+$/, '');

  return async (req, res) => {
    const { connectionId } = req.params;
    const connection = isUuid(connectionId) ? await connections.get(connectionId) : null;
    const callbacks = connection ? CALLBACKS_BY_PROVIDER[connection.provider] : undefined;
    if (!connection || !callbacks) throw new AppError(404, 'not_found', 'No channel connection that takes callbacks has this id');

    if (!callbacks.methods.includes(req.method)) {
      res.setHeader('Allow', callbacks.methods.join(', '));
      throw new AppError(405, 'method_not_allowed', `This provider's callbacks are ${callbacks.methods.join(' or ')}`);
    }
    const rawBody = await readRawBody(req, bodyLimitBytes);
    const outcome = callbacks.handle(connection, {
      method: req.method,
      publicUrl: (base ?? `${req.protocol}://${req.get('host') ?? ''}`) + req.originalUrl,
      // Parsed only when read: the Meta handshake reads it, the burst of POSTs does not.
      get query() {
        return new URL(req.originalUrl, 'http://callback').searchParams;
      },
      header: (name) => req.get(name),
      rawBody,
      receivedAt: new Date(),
    });
    calls.inc({ provider: connection.provider, outcome: outcome.outcome });
    switch (outcome.outcome) {
      case 'refused':
        // Ids and reasons only: never a header, a signature or the body.
        logger.warn('callback refused', { connectionId, provider: connection.provider, status: outcome.status, reason: outcome.message });
        throw new AppError(outcome.status, REFUSAL_CODES[outcome.status], outcome.message);
      case 'answered':
        return answer(res, outcome.answer);
      case 'accepted': {
        const { receipts, optOuts, unrouted } = await router.route(connection, callbacks, outcome.effects);
        if (unrouted > 0) {
          logger.info('callback facts about a number or agent no connection serves: ignored', { connectionId, provider: connection.provider, unrouted });
        }
        await recorder.record(receipts, optOuts);
        return answer(res, outcome.answer);
      }
    }
  };
}

const REFUSAL_CODES: Readonly<Record<400 | 401 | 403, ErrorCode>> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
};

function answer(res: Response, { status, contentType, body }: CallbackAnswer): void {
  res.writeHead(status, { 'Content-Type': contentType, 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
