export { HOOK_FIELDS, parseHookPayload } from './parse-hook-payload';
export { MAX_CONTACT_VARIABLES, MAX_CONTACT_VARIABLES_BYTES, MAX_VALUE_BYTES, MAX_VARIABLES } from './variables';
export type * from './types';
export { readIdentity as resolveContactIdentity, type Identity } from './parse-identity';
export { checkName, readVariablesObject, IDENTITY_FIELDS } from './variables';
export { writesOfTarget } from './target-writes';
