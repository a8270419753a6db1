import { handOffPosition, nextDeliveryChunks, recordHandOff, type Db, type DeliveryChunk } from '@herald/db';
import type { JobProducer } from '@herald/queue';

/** Chunks fetched per page: one SELECT, one addBulk and one UPDATE hand off this many chunks. */
const CHUNKS_PER_PAGE = 20;

export interface HandOff {
  db: Db;
  producer: Pick<JobProducer, 'addBulk'>;
  runId: string;
  /** Deliveries per `delivery.chunk` job. */
  chunkSize: number;
}

/** `stopped`: the run is no longer dispatching (cancelled, or finished by another worker). */
export type HandOffOutcome = { outcome: 'handed_off'; chunks: number } | { outcome: 'stopped' };

/**
 * Hands a run's delivery rows to the channel queues (SPEC §1): pages of the run's deliveries in
 * id order, each page cut into per-channel chunks added as `delivery.chunk` jobs, then recorded
 * on the run (its resume point and progress). A crash between the add and the record makes the
 * resumed dispatch add that page again: the chunk's fixed job id makes the second add a no-op.
 * A cancel stops it at the next page; a chunk added just before a cancel committed finds its
 * deliveries `skipped` already (the cancel skips every queued delivery of the run).
 */
export async function handOffDeliveries({ db, producer, runId, chunkSize }: HandOff): Promise<HandOffOutcome> {
  const position = await handOffPosition(db, runId);
  if (position?.status !== 'dispatching') return { outcome: 'stopped' };
  let afterId = position.handed_off_through;
  let chunks = 0;
  for (;;) {
    const page = await nextDeliveryChunks(db, { runId, afterId, chunkSize, chunksPerPage: CHUNKS_PER_PAGE });
    if (page.length === 0) return { outcome: 'handed_off', chunks };
    await addChunks(producer, runId, page);
    chunks += page.length;
    afterId = lastIdOf(page);
    const deliveries = page.reduce((sum, chunk) => sum + chunk.size, 0);
    if (!(await recordHandOff(db, { runId, throughId: afterId, deliveries }))) return { outcome: 'stopped' };
  }
}

/**
 * Hands a run's deliveries off again from the start, for when Redis lost its queues (SPEC §7):
 * the same pages and chunks as the first time (the run's deliveries are fixed once it leaves
 * `dispatching`), so a chunk Redis still holds is left alone and a lost one is added back.
 * Returns the number of chunks added or confirmed.
 */
export async function replayHandOff({ db, producer, runId, chunkSize }: HandOff): Promise<number> {
  let afterId = '0';
  let chunks = 0;
  for (;;) {
    const page = await nextDeliveryChunks(db, { runId, afterId, chunkSize, chunksPerPage: CHUNKS_PER_PAGE });
    if (page.length === 0) return chunks;
    await addChunks(producer, runId, page);
    chunks += page.length;
    afterId = lastIdOf(page);
  }
}

function addChunks(producer: HandOff['producer'], runId: string, page: readonly DeliveryChunk[]): Promise<void> {
  return producer.addBulk(
    'delivery.chunk',
    page.map((chunk) => ({ runId, channel: chunk.channel, firstId: chunk.first_id, lastId: chunk.last_id })),
  );
}

/** The highest delivery id of a page (bigint ids as text: compared as BigInt, not as strings). */
function lastIdOf(page: readonly { last_id: string }[]): string {
  return page.reduce((max, chunk) => (BigInt(chunk.last_id) > BigInt(max) ? chunk.last_id : max), '0');
}
