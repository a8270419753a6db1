export * from './load-config';
export * from './env-file';
export * from './herald.schema';
export * from './backend';
export * from './secret-key';
