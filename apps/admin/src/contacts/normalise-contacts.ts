import { IDENTITY_FIELDS, readVariablesObject, resolveContactIdentity, type ErrorDetail } from '@herald/core';
import { mergeContacts, type ContactUpsert } from '@herald/db';
import type { ContactBody } from '../schemas/admin.schemas';

/**
 * SPEC §2's identity rules per contact (channel names, phone numbers, user_id = phone on
 * WhatsApp/SMS/RCS) and variable limits, for the upsert call and the import alike: the rows to
 * write, and every problem found (`pathOf(i)` names contact i in them). Duplicates collapse
 * into one row, later fields winning — one statement cannot upsert a row twice.
 */
export function normaliseContacts(contacts: readonly ContactBody[], pathOf: (index: number) => string): { rows: ContactUpsert[]; errors: ErrorDetail[] } {
  const errors: ErrorDetail[] = [];
  const byKey = new Map<string, ContactUpsert>();
  contacts.forEach((contact, i) => {
    const at = pathOf(i);
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
  return { rows: [...byKey.values()], errors };
}
