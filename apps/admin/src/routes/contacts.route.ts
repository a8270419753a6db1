import { Router } from 'express';
import { AppError, resolveChannel } from '@herald/core';
import { findBot, listContacts, setContactOptOut, upsertContacts, type Db } from '@herald/db';
import { validateBody } from '@herald/service';
import { normaliseContacts } from '../contacts/normalise-contacts';
import { bigintResourceId, notFound, resourceId } from '../http/ids';
import { bigintCursor, oneOf, page, pageRequest } from '../http/pagination';
import { optOutSchema, upsertContactsSchema } from '../schemas/admin.schemas';

const isIdCursor = bigintCursor('id');

/**
 * `POST /v1/bots/:id/contacts`: upsert up to 10,000 contacts in one set-based statement.
 * `GET /v1/bots/:id/contacts?bot_channel=&user_id=&opted_out=&limit=&cursor=`: a bot's contacts, by id.
 * `PUT|DELETE /v1/bots/:id/contacts/:contactId/opt-out`: opt a contact out, or back in.
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
    const optedOut = oneOf(req.query['opted_out'], ['true', 'false'] as const, 'opted_out');
    const contacts = await listContacts(db, botId, { limit, afterId: cursor?.id, channel, userId, ...(optedOut ? { optedOut: optedOut === 'true' } : {}) });
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

  // Opt-outs by an admin call (issue 12): set with a reason (`admin` when none is given), and
  // cleared. The contact's later deliveries are skipped (`opted_out`) while it is set.
  router.put('/v1/bots/:id/contacts/:contactId/opt-out', async (req, res) => {
    const { reason } = validateBody(optOutSchema, req.body ?? {});
    res.json(await optOut(db, req.params, reason));
  });
  router.delete('/v1/bots/:id/contacts/:contactId/opt-out', async (req, res) => {
    res.json(await optOut(db, req.params, null));
  });

  return router;
}

async function optOut(db: Db, params: Record<string, string | undefined>, reason: string | null) {
  const botId = resourceId(params['id'], 'bot');
  const contactId = bigintResourceId(params['contactId'], 'contact');
  const contact = await setContactOptOut(db, botId, contactId, reason);
  if (!contact) throw notFound('contact');
  return contact;
}
