import { Router } from 'express';
import { findContactOfBot, listWebOutbox, markWebOutboxRead, type Db } from '@herald/db';
import { validateBody } from '@herald/service';
import { bigintResourceId, notFound, resourceId } from '../http/ids';
import { bigintCursor, oneOf, page, pageRequest } from '../http/pagination';
import { markReadSchema } from '../schemas/admin.schemas';

const isIdCursor = bigintCursor('id');

/**
 * The web chat outbox (SPEC §4): what a WebChannel broadcast "sent" to a contact, for a web chat
 * front end to poll.
 * `GET /v1/bots/:id/contacts/:contactId/outbox?cursor=&limit=&unread=true`: oldest first;
 * `POST /v1/bots/:id/contacts/:contactId/outbox/read {through_id}`: marks messages read.
 */
export function webOutboxRouter(db: Db): Router {
  const router = Router();

  router.get('/v1/bots/:id/contacts/:contactId/outbox', async (req, res) => {
    const { botId, contactId } = ids(req.params);
    const { limit, cursor } = pageRequest(req.query, isIdCursor);
    const unread = oneOf(req.query['unread'], ['true', 'false'] as const, 'unread') === 'true';
    if (!(await findContactOfBot(db, botId, contactId))) throw notFound('contact');
    const messages = await listWebOutbox(db, contactId, { limit, afterId: cursor?.id, unreadOnly: unread });
    res.json(page(messages, limit, (last) => ({ id: last.id })));
  });

  router.post('/v1/bots/:id/contacts/:contactId/outbox/read', async (req, res) => {
    const { botId, contactId } = ids(req.params);
    const { through_id } = validateBody(markReadSchema, req.body);
    if (!(await findContactOfBot(db, botId, contactId))) throw notFound('contact');
    res.json({ marked_read: await markWebOutboxRead(db, contactId, through_id) });
  });

  return router;
}

function ids(params: Record<string, string | undefined>) {
  return { botId: resourceId(params['id'], 'bot'), contactId: bigintResourceId(params['contactId'], 'contact') };
}
