import { splitAssignments } from '../audience';
import type { TargetRequest, Variables } from './types';

/**
 * What a `targets` call writes to one of its targets: the call's top-level set_variables under
 * the target's own (which win), split into contact columns and variables. The dispatch applies
 * these; the hook checks them against the contact's bound on variables.
 */
export function writesOfTarget(request: { set_variables: Variables }, target: TargetRequest) {
  return splitAssignments({ ...request.set_variables, ...target.variables });
}
