import type { ProcessorMap } from '@herald/queue';
import type { WorkerContext } from '../worker-context';
import { broadcastDispatchProcessor } from './broadcast-dispatch.processor';
import { deliveryChunkProcessor } from './delivery-chunk.processor';
import { maintenanceReconcileProcessor } from './maintenance-reconcile.processor';
import { maintenanceRetentionProcessor } from './maintenance-retention.processor';

/** One processor per catalog job; a job added to the catalog without one does not compile. */
export const processors: ProcessorMap<WorkerContext> = {
  'broadcast.dispatch': broadcastDispatchProcessor,
  'maintenance.reconcile': maintenanceReconcileProcessor,
  'maintenance.retention': maintenanceRetentionProcessor,
  'delivery.chunk': deliveryChunkProcessor,
};
