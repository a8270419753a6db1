export * from './create-db';
export * from './migrate';
export * from './schema';
export { migrations } from './migrations';
export * from './ensure-database';
