import { acceptedChannelSpellings, isPhoneChannel, resolveChannel, type ChannelName } from '../channels';
import type { ErrorDetail } from '../errors';
import { normalisePhone } from '../phone';
import { describe } from './lists';
import { truncate } from './variables';

export interface Identity {
  user_id: string | null;
  user_phone_number: string | null;
  bot_channel: ChannelName | null;
}

const MAX_USER_ID = 256;

/** A user id may arrive as a number (`"user_id": 42`); it is stored as text. */
function readText(raw: unknown, path: string, errors: ErrorDetail[]): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw === 'number' && Number.isFinite(raw)) return String(raw);
  if (typeof raw !== 'string') {
    errors.push({ path, message: `is ${describe(raw)}`, expected: 'a string' });
    return null;
  }
  const text = raw.trim();
  if (text === '') return null;
  if (text.length > MAX_USER_ID) {
    errors.push({ path, message: `is ${text.length} characters`, expected: `at most ${MAX_USER_ID}` });
    return null;
  }
  return text;
}

/**
 * A contact's identity from `user_id`, `user_phone_number` and `bot_channel` (at `paths`),
 * with SPEC §2's rules: the channel name resolved, phone numbers normalised, and on WhatsApp,
 * SMS and RCS the user id and the phone number filling each other.
 */
export function readIdentity(
  raw: { user_id: unknown; user_phone_number: unknown; bot_channel: unknown },
  paths: { user_id: string; user_phone_number: string; bot_channel: string },
  errors: ErrorDetail[],
): Identity {
  const before = errors.length;
  let userId = readText(raw.user_id, paths.user_id, errors);
  const phoneText = readText(raw.user_phone_number, paths.user_phone_number, errors);
  const channelText = readText(raw.bot_channel, paths.bot_channel, errors);

  let channel: ChannelName | null = null;
  if (channelText !== null) {
    channel = resolveChannel(channelText) ?? null;
    if (!channel) {
      errors.push({
        path: paths.bot_channel,
        message: `"${truncate(channelText)}" is not a channel`,
        expected: `one of ${acceptedChannelSpellings().join(', ')}`,
      });
    }
  }

  let phone: string | null = null;
  if (phoneText !== null) {
    phone = normalisePhone(phoneText) ?? null;
    if (!phone) {
      errors.push({
        path: paths.user_phone_number,
        message: `"${truncate(phoneText)}" is not a phone number`,
        expected: 'digits with an optional leading +, 3 to 15 digits',
      });
    }
  }

  if (channel && isPhoneChannel(channel) && errors.length === before) {
    // On phone channels the user id is the phone number: either one fills the other.
    if (userId !== null) {
      const asPhone = normalisePhone(userId);
      if (!asPhone) {
        errors.push({ path: paths.user_id, message: `"${truncate(userId)}" is not a phone number`, expected: `a phone number on ${channel}` });
      } else if (phone !== null && phone !== asPhone) {
        errors.push({ path: paths.user_phone_number, message: `differs from user_id (${asPhone})`, expected: `the same number as user_id on ${channel}` });
      } else {
        userId = asPhone;
        phone = asPhone;
      }
    } else if (phone !== null) {
      userId = phone;
    }
  }
  return { user_id: userId, user_phone_number: phone, bot_channel: channel };
}
