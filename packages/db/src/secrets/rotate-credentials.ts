import type { Db } from '../create-db';
import { resealCredentialsBatch, type ResealedBatch, type UnreadableCredentials } from '../queries/stored-secrets.queries';
import type { SecretKeyring } from './secret-keyring';

export interface CredentialsRotation {
  resealed: number;
  unreadable: UnreadableCredentials[];
}

/**
 * `secrets rotate`: every connection's credentials sealed under the current key — plain ones
 * (stored before HERALD_SECRET_KEY was set) and ones sealed under a previous key alike. Small
 * batches, each its own short transaction, so the admin API and the workers go on meanwhile;
 * safe to run again, or twice at once (a batch skips rows another holds). `onBatch` hears each.
 */
export async function rotateStoredCredentials(
  db: Db,
  secrets: SecretKeyring,
  { batchSize = 100, onBatch }: { batchSize?: number; onBatch?: (resealed: number) => void } = {},
): Promise<CredentialsRotation> {
  const total: CredentialsRotation = { resealed: 0, unreadable: [] };
  let afterId: string | null = null;
  for (;;) {
    const from = afterId;
    const batch: ResealedBatch = await db.transaction().execute((trx) => resealCredentialsBatch(trx, secrets, { afterId: from, limit: batchSize }));
    if (batch.lastId === null) return total;
    total.resealed += batch.resealed;
    total.unreadable.push(...batch.unreadable);
    onBatch?.(batch.resealed);
    afterId = batch.lastId;
  }
}
