export * from './session-server';
export * from './embedded-database';
