import type { Db } from '@herald/db';
import type { Logger } from '@herald/logger';

/** What every processor receives besides its job. Kept small on purpose (STYLE §11). */
export interface WorkerContext {
  db: Db;
  logger: Logger;
}
