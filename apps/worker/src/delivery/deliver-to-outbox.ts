import { addToWebOutbox, claimDeliveries, finishDeliveries, type ChunkContext, type ChunkRange, type DeliveryOutcome, type DeliveryReason } from '@herald/db';
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
    const skipped = new Map<DeliveryReason, number>();
    for (const row of rows) {
      const rendered = plan.render(row);
      const reason: DeliveryReason | null = row.opted_out ? 'opted_out' : rendered.empty ? 'empty_message' : null;
      if (reason === null) messages.push({ delivery_id: row.id, contact_id: row.contact_id, text: rendered.text });
      else skipped.set(reason, (skipped.get(reason) ?? 0) + 1);
      outcomes.push({ id: row.id, claim_id: row.claim_id, text: rendered.recordedText, ...finalOutcome(reason === null ? 'sent' : 'skipped', reason) });
    }
    // The outbox insert ignores a delivery already there, so a crash between the two
    // statements (the claim expires and is sent again) never shows a message twice.
    await addToWebOutbox(deps.db, messages);
    await finishDeliveries(deps.db, { runId: chunk.runId, outcomes });
    if (messages.length) deps.metrics.deliveries.inc({ channel: chunk.channel, outcome: 'sent', reason: '' }, messages.length);
    for (const [reason, count] of skipped) deps.metrics.deliveries.inc({ channel: chunk.channel, outcome: 'skipped', reason }, count);
  }
  return { claimed, deferredUntil: deps.stopping.aborted ? new Date() : null };
}
