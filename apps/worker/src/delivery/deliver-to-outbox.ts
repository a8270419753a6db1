import { addToWebOutbox, claimDeliveries, finishDeliveries, type ChunkContext, type ChunkRange, type DeliveryOutcome } from '@herald/db';
import type { DeliveryDeps, SendLoopResult } from './deliver-chunk';
import { finalOutcome } from './final-outcome';
import type { MessagePlan } from './message-plan';

/** Step 3 for web chat: the "send" is a row in the contact's outbox, written a batch at a time. */
export async function deliverToOutbox(
  deps: Pick<DeliveryDeps, 'db' | 'leaseMs' | 'metrics' | 'stopping'>,
  chunk: ChunkRange,
  context: ChunkContext,
  plan: MessagePlan,
): Promise<SendLoopResult> {
  let claimed = 0;
  while (!deps.stopping.aborted) {
    const rows = await claimDeliveries(deps.db, { ...chunk, connectionId: context.connection_id!, limit: 500, leaseMs: deps.leaseMs });
    if (rows.length === 0) break;
    claimed += rows.length;
    const outcomes: DeliveryOutcome[] = [];
    const messages: { delivery_id: string; contact_id: string; text: string }[] = [];
    for (const row of rows) {
      const rendered = plan.render(row);
      const status = rendered.empty ? 'skipped' : 'sent';
      if (!rendered.empty) messages.push({ delivery_id: row.id, contact_id: row.contact_id, text: rendered.text });
      outcomes.push({ id: row.id, claim_id: row.claim_id, text: rendered.recordedText, ...finalOutcome(status, rendered.empty ? 'empty_message' : null) });
    }
    // The outbox insert ignores a delivery already there, so a crash between the two
    // statements (the claim expires and is sent again) never shows a message twice.
    await addToWebOutbox(deps.db, messages);
    await finishDeliveries(deps.db, { runId: chunk.runId, outcomes });
    const empty = rows.length - messages.length;
    if (messages.length) deps.metrics.deliveries.inc({ channel: chunk.channel, outcome: 'sent', reason: '' }, messages.length);
    if (empty) deps.metrics.deliveries.inc({ channel: chunk.channel, outcome: 'skipped', reason: 'empty_message' }, empty);
  }
  return { claimed, deferredUntil: deps.stopping.aborted ? new Date() : null };
}
