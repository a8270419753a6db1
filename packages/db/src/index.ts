export * from './create-db';
export * from './migrate';
export * from './schema';
export { migrations } from './migrations';
export * from './ensure-database';
export * from './db-errors';
export * from './queries/hook.queries';
export * from './queries/idempotency.queries';
