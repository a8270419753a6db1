import { Router } from 'express';
import { AppError, IDENTITY_FIELDS, readVariablesObject, resolveChannel, resolveContactIdentity, type ErrorDetail } from '@herald/core';
import { findBot, listContacts, upsertContacts, type ContactUpsert, type Db } from '@herald/db';
import { validateBody } from '@herald/service';
import { notFound, resourceId } from '../http/ids';
import { bigintCursor, page, pageRequest } from '../http/pagination';
import { upsertContactsSchema, type ContactBody } from '../schemas/admin.schemas';

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
      throw new AppError(400, 'validation_failed', 'The request is invalid', [{ path: 'bot_channel', message: `is ${String(channelParam)}`, expected: 'a channel name or alias' }]);
    }
    if (!(await findBot(db, botId))) throw notFound('bot');
    const userId = req.query['user_id'] === undefined ? undefined : String(req.query['user_id']);
    const contacts = await listContacts(db, botId, { limit, afterId: cursor?.id, channel, userId });
    res.json(page(contacts, limit, (last) => ({ id: last.id })));
  });

  router.post('/v1/bots/:id/contacts', async (req, res) => {
    const botId = resourceId(req.params['id'], 'bot');
    const { contacts } = validateBody(upsertContactsSchema, req.body);
    const rows = normaliseContacts(contacts);
    if (!(await findBot(db, botId))) throw notFound('bot');
    const { created, updated } = await upsertContacts(db, botId, rows);
    res.json({ received: contacts.length, created, updated });
  });

  return router;
}

/**
 * SPEC §2's identity rules per contact (channel names, phone numbers, user_id = phone on
 * WhatsApp/SMS/RCS) and variable limits; any bad contact rejects the call. Duplicates in the
 * call collapse into one, later fields winning.
 */
function normaliseContacts(contacts: readonly ContactBody[]): ContactUpsert[] {
  const errors: ErrorDetail[] = [];
  const byKey = new Map<string, ContactUpsert>();
  contacts.forEach((contact, i) => {
    const at = `contacts[${i}]`;
    const before = errors.length;
    const identity = resolveContactIdentity(
      { user_id: contact.user_id, user_phone_number: contact.user_phone_number, bot_channel: contact.bot_channel },
      { user_id: `${at}.user_id`, user_phone_number: `${at}.user_phone_number`, bot_channel: `${at}.bot_channel` },
      errors,
    );
    const variables = readVariablesObject(contact.variables, `${at}.variables`, errors) ?? {};
    for (const field of IDENTITY_FIELDS) {
      if (field in variables) errors.push({ path: `${at}.variables.${field}`, message: 'is a contact field', expected: `${field} beside variables` });
    }
    if (errors.length === before && identity.user_id === null) {
      errors.push({ path: `${at}.user_id`, message: 'is missing', expected: 'user_id (or, on WhatsApp, SMS and RCS, user_phone_number)' });
    }
    if (errors.length > before || !identity.bot_channel || !identity.user_id) return;
    const row: ContactUpsert = {
      bot_channel: identity.bot_channel,
      user_id: identity.user_id,
      user_phone_number: identity.user_phone_number,
      first_name: contact.first_name || null,
      last_name: contact.last_name || null,
      user_name: contact.user_name || null,
      locale: contact.locale || null,
      variables,
    };
    const key = `${row.bot_channel}\u0000${row.user_id}`;
    const seen = byKey.get(key);
    byKey.set(key, seen ? mergeContacts(seen, row) : row);
  });
  if (errors.length) throw new AppError(400, 'validation_failed', 'Some contacts are invalid; none was saved', errors.slice(0, 100));
  return [...byKey.values()];
}

function mergeContacts(earlier: ContactUpsert, later: ContactUpsert): ContactUpsert {
  return {
    ...earlier,
    user_phone_number: later.user_phone_number ?? earlier.user_phone_number,
    first_name: later.first_name ?? earlier.first_name,
    last_name: later.last_name ?? earlier.last_name,
    user_name: later.user_name ?? earlier.user_name,
    locale: later.locale ?? earlier.locale,
    variables: { ...earlier.variables, ...later.variables },
  };
}
