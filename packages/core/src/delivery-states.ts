/**
 * A delivery's life (SPEC §4): `queued` (waiting to be sent, or for its retry) → `sending`
 * (claimed by a worker, under a lease) → `sent` | `failed` | `skipped`.
 */
export const DELIVERY_STATUSES = ['queued', 'sending', 'sent', 'failed', 'skipped'] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/**
 * Why a delivery was skipped or failed: stable codes callers may branch on (docs/http-api.md
 * explains each). The provider's own error code is kept beside it, as `error_code`.
 */
export const DELIVERY_REASONS = [
  'cancelled',
  'no_channel_connection',
  'unreachable',
  'empty_message',
  'connection_unauthorized',
  'provider_rejected',
  'retries_exhausted',
  'template_invalid',
  'opted_out',
  // The provider accepted the message, then reported it could not deliver it (a receipt).
  'undelivered',
] as const;
export type DeliveryReason = (typeof DELIVERY_REASONS)[number];

/**
 * A run's life (SPEC §3.2): `dispatching` (its triggers being applied) → `delivering` →
 * `completed`; `cancelled` by an admin call; `failed` when it cannot go on.
 */
export const IN_PROGRESS_RUN_STATUSES = ['dispatching', 'delivering'] as const;
/** A run in one of these is over: nothing about it changes any more. */
export const FINAL_RUN_STATUSES = ['completed', 'cancelled', 'failed'] as const;
export const RUN_STATUSES = [...IN_PROGRESS_RUN_STATUSES, ...FINAL_RUN_STATUSES] as const;
export type RunStatus = (typeof RUN_STATUSES)[number];
export type InProgressRunStatus = (typeof IN_PROGRESS_RUN_STATUSES)[number];

/** A trigger's life: `pending` until a run applies it (`dispatched`), or `cancelled`, or `failed` (refused by the database). */
export const TRIGGER_STATUSES = ['pending', 'dispatched', 'cancelled', 'failed'] as const;
export type TriggerStatus = (typeof TRIGGER_STATUSES)[number];
