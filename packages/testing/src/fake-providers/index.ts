export * from './answers';
export * from './catalog';
export * from './fake-providers';
export type { FakeCredentials } from './state';
