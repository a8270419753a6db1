import { Router } from 'express';
import { AppError, resolveChannel } from '@herald/core';
import { findBot, listContacts, upsertContacts, type Db } from '@herald/db';
import { validateBody } from '@herald/service';
import { normaliseContacts } from '../contacts/normalise-contacts';
import { notFound, resourceId } from '../http/ids';
import { bigintCursor, page, pageRequest } from '../http/pagination';
import { upsertContactsSchema } from '../schemas/admin.schemas';

const isIdCursor = bigintCursor('id');

/**
 * `POST /v1/bots/:id/contacts`: upsert up to 10,000 contacts in one set-based statement.
 * `GET /v1/bots/:id/contacts?bot_channel=&user_id=&limit=&cursor=`: a bot's contacts, by id.
 */
export function contactsRouter(db: Db): Router {
  const router = Router();

  router.get('/v1/bots/:id/contacts', async (req, res) => {
    const botId = resourceId(req.params['id'], 'bot');
    const { limit, cursor } = pageRequest(req.query, isIdCursor);
    const channelParam = req.query['bot_channel'];
    const channel = channelParam === undefined ? undefined : resolveChannel(String(channelParam));
    if (channelParam !== undefined && !channel) {
      throw new AppError(400, 'validation_failed', 'The request is invalid', [
        { path: 'bot_channel', message: `is ${String(channelParam)}`, expected: 'a channel name or alias' },
      ]);
    }
    if (!(await findBot(db, botId))) throw notFound('bot');
    const userId = req.query['user_id'] === undefined ? undefined : String(req.query['user_id']);
    const contacts = await listContacts(db, botId, { limit, afterId: cursor?.id, channel, userId });
    res.json(page(contacts, limit, (last) => ({ id: last.id })));
  });

  router.post('/v1/bots/:id/contacts', async (req, res) => {
    const botId = resourceId(req.params['id'], 'bot');
    const { contacts } = validateBody(upsertContactsSchema, req.body);
    const { rows, errors } = normaliseContacts(contacts, (i) => `contacts[${i}]`);
    if (errors.length) throw new AppError(400, 'validation_failed', 'Some contacts are invalid; none was saved', errors.slice(0, 100));
    if (!(await findBot(db, botId))) throw notFound('bot');
    const { created, updated } = await upsertContacts(db, botId, rows);
    res.json({ received: contacts.length, created, updated });
  });

  return router;
}
