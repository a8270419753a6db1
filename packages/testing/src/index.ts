export * from './database';
export * from './env';
export * from './processes';
export * from './redis';
export * from './wait';
export * from './factories';
export * from './http';
export * from './logger';
