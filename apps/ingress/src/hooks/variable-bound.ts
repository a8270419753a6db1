import { MAX_CONTACT_VARIABLES, MAX_CONTACT_VARIABLES_BYTES, splitAssignments, writesOfTarget, type ErrorDetail, type TriggerRequest } from '@herald/core';
import { writesPastVariableBound, type Db, type VariableWrite } from '@herald/db';
import { MicroBatcher } from './micro-batcher';

/**
 * SPEC §2's bound on a contact's variables, checked at the hook against what the contact holds
 * now: a call that would take a named contact past it is a 400, and nothing is recorded.
 * Covered: `targets` and `set_conversation` with a user id and channel, i.e. the contacts a
 * call names. Not covered, because the hook cannot know them without applying the call: the
 * contacts an audience call reaches, one found by phone number alone, and calls still pending
 * in the same window (each passes alone, together they may not). Those the database refuses at
 * dispatch: the trigger is marked `failed` with the reason, and its run goes on without it.
 */
export type VariableBoundChecker = MicroBatcher<VariableWrite, boolean>;

/** Concurrent calls share one look-up statement, as they share the trigger INSERT. */
export function createVariableBoundChecker(db: Db): VariableBoundChecker {
  return new MicroBatcher(
    async (writes) => {
      const past = await writesPastVariableBound(db, writes, { count: MAX_CONTACT_VARIABLES, bytes: MAX_CONTACT_VARIABLES_BYTES });
      return writes.map((_, i) => past.has(i));
    },
    { maxInFlight: 2 },
  );
}

/** The variables `request` writes to each contact it names, with where in the call they come from. */
export function namedVariableWrites(botId: string, request: TriggerRequest): Array<{ path: string; write: VariableWrite }> {
  const writes: Array<{ path: string; write: VariableWrite }> = [];
  const add = (path: string, botChannel: VariableWrite['botChannel'], userId: string, variables: VariableWrite['variables']) => {
    if (Object.keys(variables).length > 0) writes.push({ path, write: { botId, botChannel, userId, variables } });
  };
  if (request.mode === 'targets') {
    request.targets.forEach((target, i) => add(`targets[${i}].variables`, target.bot_channel, target.user_id, writesOfTarget(request, target).variables));
  } else if (request.mode === 'set_conversation' && request.user_id !== null && request.bot_channel !== null) {
    add('set_variables', request.bot_channel, request.user_id, splitAssignments(request.set_variables).variables);
  }
  return writes;
}

/** The errors for the writes of `request` that would take their contact past the bound (none: it may go on). */
export async function checkVariableBound(checker: VariableBoundChecker, botId: string, request: TriggerRequest): Promise<ErrorDetail[]> {
  const writes = namedVariableWrites(botId, request);
  if (writes.length === 0) return [];
  const past = await Promise.all(writes.map(({ write }) => checker.submit(write)));
  return writes
    .filter((_, i) => past[i])
    .map(({ path, write }) => ({
      path,
      message: `would take contact "${write.userId}" (${write.botChannel}) past the bound on its variables, merged with those it holds`,
      expected: `at most ${MAX_CONTACT_VARIABLES} variables and ${MAX_CONTACT_VARIABLES_BYTES} bytes of them per contact`,
    }));
}
