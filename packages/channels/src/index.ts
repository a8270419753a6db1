export * from './adapter';
export * from './http/outbound-client';
export * from './http/outbound-error';
export * from './http/destination-policy';
export * from './http/redact-url';
export * from './throttle';
export * from './adapters';
export * from './local-throttle';
