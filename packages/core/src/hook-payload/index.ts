export { parseHookPayload } from './parse-hook-payload';
export { MAX_VALUE_BYTES, MAX_VARIABLES } from './variables';
export type * from './types';
