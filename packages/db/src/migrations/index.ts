import type { Migration } from 'kysely';
import * as initialSchema from './2026-11-26T0100-initial-schema.migration';
import * as isoInstantFunction from './2026-11-26T0200-iso-instant-function.migration';
import * as runHandOffProgress from './2026-11-26T0300-run-hand-off-progress.migration';
import * as deliveryStage from './2026-11-26T0400-delivery-stage.migration';
import * as deliveryLeases from './2026-11-26T0500-delivery-leases.migration';
import * as contactVariablesBound from './2026-11-26T0600-contact-variables-bound.migration';
import * as runTriggerBoundary from './2026-11-27T0100-run-trigger-boundary.migration';
import * as contactOptOut from './2026-11-27T0200-contact-opt-out.migration';
import * as deliveryReceipts from './2026-11-27T0300-delivery-receipts.migration';
import * as botDeletionIndexes from './2026-11-27T0400-bot-deletion-indexes.migration';
import * as hookTokenHashOnly from './2026-11-27T0500-hook-token-hash-only.migration';
import * as retentionIndexes from './2026-11-27T0600-retention-indexes.migration';

/**
 * Every migration, by name. Names are timestamps so they sort in the order they were written;
 * Kysely applies them in that order. Listed explicitly (not read from a folder) so the same
 * code works from TypeScript sources in tests and from compiled JavaScript in production.
 */
export const migrations: Readonly<Record<string, Migration>> = {
  '2026-11-26T0100-initial-schema': initialSchema,
  '2026-11-26T0200-iso-instant-function': isoInstantFunction,
  '2026-11-26T0300-run-hand-off-progress': runHandOffProgress,
  '2026-11-26T0400-delivery-stage': deliveryStage,
  '2026-11-26T0500-delivery-leases': deliveryLeases,
  '2026-11-26T0600-contact-variables-bound': contactVariablesBound,
  '2026-11-27T0100-run-trigger-boundary': runTriggerBoundary,
  '2026-11-27T0200-contact-opt-out': contactOptOut,
  '2026-11-27T0300-delivery-receipts': deliveryReceipts,
  '2026-11-27T0400-bot-deletion-indexes': botDeletionIndexes,
  '2026-11-27T0500-hook-token-hash-only': hookTokenHashOnly,
  '2026-11-27T0600-retention-indexes': retentionIndexes,
};
