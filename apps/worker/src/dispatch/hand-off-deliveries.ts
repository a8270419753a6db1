import { handOffPosition, nextDeliveryChunks, recordHandOff, type Db } from '@herald/db';
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
  let chunks = 0;
  for await (const page of addedPages({ db, producer, runId, chunkSize }, position.handed_off_through)) {
    chunks += page.chunks;
    if (!(await recordHandOff(db, { runId, throughId: page.throughId, deliveries: page.deliveries }))) return { outcome: 'stopped' };
  }
  return { outcome: 'handed_off', chunks };
}

/**
 * Hands a run's deliveries off again from the start, for when Redis lost its queues (SPEC §7):
 * the same pages and chunks as the first time (the run's deliveries are fixed once it leaves
 * `dispatching`), so a chunk Redis still holds is left alone and a lost one is added back.
 * Returns the number of chunks added or confirmed.
 */
export async function replayHandOff(handOff: HandOff): Promise<number> {
  let chunks = 0;
  for await (const page of addedPages(handOff, '0')) chunks += page.chunks;
  return chunks;
}

/**
 * The run's delivery pages after `afterId`, each cut into chunks and added to the channel
 * queues before it is yielded: what was added, and the last delivery id it covers.
 */
async function* addedPages({ db, producer, runId, chunkSize }: HandOff, afterId: string) {
  for (;;) {
    const page = await nextDeliveryChunks(db, { runId, afterId, chunkSize, chunksPerPage: CHUNKS_PER_PAGE });
    if (page.length === 0) return;
    await producer.addBulk(
      'delivery.chunk',
      page.map((chunk) => ({ runId, channel: chunk.channel, firstId: chunk.first_id, lastId: chunk.last_id })),
    );
    afterId = lastIdOf(page);
    yield { chunks: page.length, deliveries: page.reduce((sum, chunk) => sum + chunk.size, 0), throughId: afterId };
  }
}

/** The highest delivery id of a page (bigint ids as text: compared as BigInt, not as strings). */
function lastIdOf(page: readonly { last_id: string }[]): string {
  return page.reduce((max, chunk) => (BigInt(chunk.last_id) > BigInt(max) ? chunk.last_id : max), '0');
}
