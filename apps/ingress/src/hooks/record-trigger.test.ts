import { parseHookPayload } from '@herald/core';
import { BATCHED_CALL_LIMITS, batchable, type TriggerToRecord } from './record-trigger';

/** Which calls share the turn's batch INSERT, and which go alone. */
describe('batchable', () => {
  const call = (body: unknown, maxDelayMs: number | null = null, requireValidFilter = true): TriggerToRecord => {
    const parsed = parseHookPayload(body, { requireValidFilter, maxTargets: 10_000 });
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.errors));
    return { broadcast: { max_delay_ms: maxDelayMs } as TriggerToRecord['broadcast'], callerAddress: '127.0.0.1', method: 'POST', parsed };
  };
  const targets = (n: number, note = '') => ({
    targets: Array.from({ length: n }, (_, i) => ({ user_id: `u${i}`, bot_channel: 'telegram', variables: note ? { note } : {} })),
  });

  it('batches plain calls and per-user calls (targets or set_conversation for one contact)', () => {
    expect(batchable(call({}))).toBe(true);
    expect(batchable(call({ audience_filters: 'tier', audience_criteria: 'Equals', audience_values: 'gold' }))).toBe(true);
    expect(batchable(call(targets(1)))).toBe(true);
    expect(batchable(call({ set_conversation: true, user_id: '42', bot_channel: 'telegram', set_variables: 'order', set_variables_values: 'A-17' }))).toBe(
      true,
    );
    expect(batchable(call(targets(BATCHED_CALL_LIMITS.targets)))).toBe(true);
  });

  it('sends alone what could grow a batch statement: many targets, a large request, a free payload', () => {
    expect(batchable(call(targets(BATCHED_CALL_LIMITS.targets + 1)))).toBe(false);
    expect(batchable(call(targets(1, 'x'.repeat(BATCHED_CALL_LIMITS.requestBytes))))).toBe(false);
    expect(batchable(call({ anything: 'goes' }, null, false))).toBe(false);
  });

  it('sends alone the calls of a broadcast whose delay max_delay_ms may shorten', () => {
    expect(batchable(call(targets(1), 60_000))).toBe(false);
  });
});
