import { isSystemField, matchesMissingValue, splitAssignments, writesOfTarget, type Audience, type ChannelName, type TriggerRequest } from '@herald/core';
import {
  applyToAudience,
  applyToContacts,
  applyToKnownContacts,
  contactRow,
  findConversations,
  mergeContacts,
  variablesNoContactHas,
  type ContactUpsert,
  type ContactWrites,
  type Db,
} from '@herald/db';

/**
 * Applying many triggers of a run at once (SPEC §3.2, issue: dispatch keeps pace with the hook).
 * A batch — consecutive triggers in arrival order — is cut into steps, each applied by one or
 * two set-based statements, in order, in the caller's transaction: a statement sees what the
 * steps before it wrote, so a filter still sees the variables set by earlier triggers.
 * Each step is equivalent to applying its triggers one by one:
 * - `targets` triggers in a row: one upsert. An upsert keeps a column unless given
 *   (`coalesce`) and merges variables (`||`), so for a contact named by several of them the
 *   last non-null column and the last value of each variable win, as one by one.
 * - `set_conversation` triggers in a row: one look-up of them all, over the state before the
 *   step, then one write of the contacts found and one upsert of those created. A look-up can
 *   only see another trigger's write when that trigger created a contact with the same user id
 *   or phone (found contacts keep their identity), so a trigger naming a user id or phone an
 *   earlier trigger of the step named starts a new step.
 * - `audience` triggers: one statement each, except that triggers in a row with the same
 *   audience and nothing to set reach the same contacts and are applied once.
 * One difference is left: the bound on a contact's variables (migration 0600) judges a step's
 * end state, so a value past the 1 MiB bound that a later trigger of the same step shrinks
 * again passes here and fails one by one. (The count cannot shrink: it is judged the same.)
 */

export interface BatchTrigger {
  id: string;
  request: TriggerRequest;
}

export interface BatchContext {
  botId: string;
  runId: string;
  configuredAudience: Audience;
}

type Step =
  | { kind: 'targets'; triggers: BatchTrigger[] }
  | { kind: 'conversations'; triggers: BatchTrigger[]; identities: Set<string> }
  | { kind: 'audience'; triggers: BatchTrigger[]; audience: Audience; writes: ContactWrites };

/** Applies the batch; returns each trigger's notes (e.g. why a conversation was not created), by id. */
export async function applyBatch(db: Db, context: BatchContext, batch: readonly BatchTrigger[]): Promise<Map<string, string[]>> {
  const notes = new Map<string, string[]>(batch.map((trigger) => [trigger.id, []]));
  for (const step of planSteps(batch, context.configuredAudience)) {
    switch (step.kind) {
      case 'targets':
        await applyToContacts(db, { botId: context.botId, runId: context.runId, contacts: mergeTargets(step.triggers) });
        break;
      case 'conversations':
        await applyConversations(db, context, step.triggers, notes);
        break;
      case 'audience': {
        const { reached } = await applyToAudience(db, { botId: context.botId, runId: context.runId, audience: step.audience, writes: step.writes });
        if (reached === 0) await noteUnknownVariables(db, context.botId, step, notes);
        break;
      }
    }
  }
  return notes;
}

/** Cuts a batch into steps (see the module comment for when a step must end). */
export function planSteps(batch: readonly BatchTrigger[], configuredAudience: Audience): Step[] {
  const steps: Step[] = [];
  for (const trigger of batch) {
    const request = trigger.request;
    const last = steps.at(-1);
    switch (request.mode) {
      case 'targets':
        if (last?.kind === 'targets') last.triggers.push(trigger);
        else steps.push({ kind: 'targets', triggers: [trigger] });
        break;
      case 'set_conversation': {
        const identities = [request.user_id && `u:${request.user_id}`, request.user_phone_number && `p:${request.user_phone_number}`].filter(
          (identity): identity is string => Boolean(identity),
        );
        if (last?.kind === 'conversations' && !identities.some((identity) => last.identities.has(identity))) {
          last.triggers.push(trigger);
          for (const identity of identities) last.identities.add(identity);
        } else {
          steps.push({ kind: 'conversations', triggers: [trigger], identities: new Set(identities) });
        }
        break;
      }
      case 'audience': {
        const audience = request.audience ?? configuredAudience;
        const writes = splitAssignments(request.set_variables);
        if (isEmpty(writes) && last?.kind === 'audience' && isEmpty(last.writes) && sameAudience(last.audience, audience)) {
          last.triggers.push(trigger);
        } else {
          steps.push({ kind: 'audience', triggers: [trigger], audience, writes });
        }
        break;
      }
    }
  }
  return steps;
}

/** The contacts of `targets` triggers in a row, one per contact, later triggers winning. */
function mergeTargets(triggers: readonly BatchTrigger[]): ContactUpsert[] {
  const byContact = new Map<string, ContactUpsert>();
  for (const { request } of triggers) {
    if (request.mode !== 'targets') continue;
    for (const target of request.targets) {
      const writes = writesOfTarget(request, target);
      const row = contactRow({ bot_channel: target.bot_channel, user_id: target.user_id, user_phone_number: target.user_phone_number }, writes);
      // As the upsert would apply them one after the other: a later null leaves an earlier value.
      const key = `${target.bot_channel}\u0000${target.user_id}`;
      const earlier = byContact.get(key);
      byContact.set(key, earlier ? mergeContacts(earlier, row) : row);
    }
  }
  return [...byContact.values()];
}

/** set_conversation triggers in a row: looked up together, written together. */
async function applyConversations(db: Db, context: BatchContext, triggers: readonly BatchTrigger[], notes: Map<string, string[]>): Promise<void> {
  const requests = triggers.map(({ request }) => request as Extract<TriggerRequest, { mode: 'set_conversation' }>);
  const found = await findConversations(
    db,
    context.botId,
    requests.map((request) => ({ userId: request.user_id, phone: request.user_phone_number, channel: request.bot_channel })),
  );
  const known = new Map<string, { id: string; bot_channel: ChannelName; writes: ContactWrites }>();
  const created: ContactUpsert[] = [];
  requests.forEach((request, i) => {
    const writes = splitAssignments(request.set_variables);
    const contact = found[i];
    if (contact) {
      // Two look-ups may find the same contact: its writes merge in arrival order.
      const earlier = known.get(contact.id)?.writes;
      known.set(contact.id, {
        ...contact,
        writes: { columns: { ...earlier?.columns, ...writes.columns }, variables: { ...earlier?.variables, ...writes.variables } },
      });
    } else if (!request.bot_channel || !request.user_id) {
      notes.get(triggers[i]!.id)!.push(`contact not created: ${request.bot_channel ? 'user_id' : 'bot_channel'} missing`);
    } else {
      created.push(contactRow({ bot_channel: request.bot_channel, user_id: request.user_id, user_phone_number: request.user_phone_number }, writes));
    }
  });
  await applyToKnownContacts(db, { runId: context.runId, contacts: [...known.values()] });
  await applyToContacts(db, { botId: context.botId, runId: context.runId, contacts: created });
}

/**
 * An audience that reached no one because it filters on a variable no contact of the bot has
 * (a typo, a variable never imported) would otherwise end as a quiet `targeted: 0`: each of
 * the step's triggers gets a note naming those variables. Only filters that need the value
 * count: `EmptyOrUnset` or a negation on a missing variable holds, so naming it would mislead.
 * A diagnosis, not part of the run: if the look-up fails (the statement timeout on a huge
 * bot), the note is dropped, never the trigger.
 */
async function noteUnknownVariables(db: Db, botId: string, step: Extract<Step, { kind: 'audience' }>, notes: Map<string, string[]>): Promise<void> {
  const needed = step.audience.filters.filter(({ field, criteria }) => !isSystemField(field) && !matchesMissingValue(criteria));
  const variables = [...new Set(needed.map(({ field }) => field))];
  if (variables.length === 0) return;
  const unknown = await variablesNoContactHas(db, botId, variables);
  if (!unknown?.length) return;
  const note = `the audience reached no one: no contact of this bot has the variable${unknown.length > 1 ? 's' : ''} ${unknown.map((name) => `"${name}"`).join(', ')} it filters on`;
  for (const trigger of step.triggers) notes.get(trigger.id)!.push(note);
}

function isEmpty(writes: ContactWrites): boolean {
  return Object.keys(writes.columns).length === 0 && Object.keys(writes.variables).length === 0;
}

function sameAudience(a: Audience, b: Audience): boolean {
  return a === b || JSON.stringify(a) === JSON.stringify(b);
}
