export * from './errors';
export * from './channels';
export * from './phone';
export * from './audience';
export * from './hook-payload';
export * from './dispatch-timing';
export * from './tokens';
