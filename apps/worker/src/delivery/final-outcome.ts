import type { DeliveryOutcome } from '@herald/db';

/** An outcome with nothing from the provider yet: the status and reason, the rest empty. */
export function finalOutcome(status: DeliveryOutcome['status'], reason: DeliveryOutcome['reason']): Omit<DeliveryOutcome, 'id' | 'claim_id' | 'text'> {
  return { status, reason, error_code: null, last_error: null, provider_message_id: null, next_attempt_at: null };
}
