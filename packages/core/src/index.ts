export * from './errors';
export * from './channels';
export * from './phone';
