export * from './catalog';
export * from './connection';
export * from './producer';
export * from './backend';
