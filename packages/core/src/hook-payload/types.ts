import type { Audience } from '../audience';
import type { ChannelName } from '../channels';
import type { ErrorDetail } from '../errors';

/** What a contact variable may hold (SPEC §2): strings, numbers, booleans or JSON. */
export type VariableValue = string | number | boolean | null | VariableValue[] | { [key: string]: VariableValue };
export type Variables = Record<string, VariableValue>;

export interface TargetRequest {
  user_id: string;
  user_phone_number: string | null;
  bot_channel: ChannelName;
  /** Written to the contact (system fields such as first_name included), then rendered. */
  variables: Variables;
}

interface RequestBase {
  /** Variables to write to every targeted contact before rendering. */
  set_variables: Variables;
  /** The raw JSON body, kept for `{{payload.…}}` when the broadcast has require_valid_filter = false. */
  payload: Record<string, unknown> | null;
}

/**
 * A hook call, normalised: what the dispatcher applies. Stored as the trigger's `request`.
 * - `audience`: the call's filters, or `audience: null` for the broadcast's configured one
 *   (GET, no body, `{}`, or only set_variables);
 * - `set_conversation`: one contact found by user_id, else phone, else created;
 * - `targets`: many contacts, created when missing.
 */
export type TriggerRequest =
  | (RequestBase & { mode: 'audience'; audience: Audience | null })
  | (RequestBase & {
      mode: 'set_conversation';
      user_id: string | null;
      user_phone_number: string | null;
      bot_channel: ChannelName | null;
    })
  | (RequestBase & { mode: 'targets'; targets: TargetRequest[] });

export type ParseResult =
  { ok: true; request: TriggerRequest; /** What was accepted but not used, and why. */ notes: string[] } | { ok: false; errors: ErrorDetail[] };

export interface ParseOptions {
  /** The broadcast's require_valid_filter: when false any JSON object is accepted. */
  requireValidFilter: boolean;
  /** Most targets one call may carry (SPEC: 10,000 by default). */
  maxTargets: number;
}
