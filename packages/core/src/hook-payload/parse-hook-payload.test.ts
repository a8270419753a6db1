import { CRITERIA, MAX_FILTERS } from '../audience';
import { parseHookPayload } from './parse-hook-payload';
import type { ParseOptions, TriggerRequest } from './types';

const STRICT: ParseOptions = { requireValidFilter: true, maxTargets: 10_000 };

function accept(body: unknown, options: ParseOptions = STRICT): TriggerRequest {
  const result = parseHookPayload(body, options);
  if (!result.ok) throw new Error(`expected acceptance, got ${JSON.stringify(result.errors)}`);
  return result.request;
}

function rejectPaths(body: unknown, options: ParseOptions = STRICT): string[] {
  const result = parseHookPayload(body, options);
  if (result.ok) throw new Error(`expected rejection, got ${JSON.stringify(result.request)}`);
  for (const detail of result.errors) {
    expect(detail.message).toEqual(expect.any(String));
    expect(detail.expected).toEqual(expect.any(String));
  }
  return result.errors.map((e) => e.path);
}

const configured = { mode: 'audience', audience: null, set_variables: {}, payload: null } as const;

describe('parseHookPayload — accepted calls', () => {
  it.each<[string, unknown, Record<string, unknown>]>([
    // 1–3: the configured audience
    ['GET / no body', undefined, configured],
    ['null body', null, configured],
    ['empty object', {}, configured],
    // 4: SPEC example one
    [
      'SPEC example: favorite_color Equals red, set new_favorite_color',
      {
        audience_filters: 'favorite_color',
        audience_criteria: 'Equals',
        audience_values: 'red',
        set_variables: 'new_favorite_color',
        set_variables_values: 'magenta',
      },
      {
        mode: 'audience',
        audience: { filters: [{ field: 'favorite_color', criteria: 'Equals', value: 'red' }], join: [] },
        set_variables: { new_favorite_color: 'magenta' },
      },
    ],
    // 5: SPEC example two
    [
      'SPEC example: two filters, two variables',
      {
        audience_filters: 'user_id;favorite_color',
        audience_criteria: 'Equals;Equals',
        audience_values: '3030391;red',
        audience_join: 'AND',
        set_variables: 'new_favorite_color;discount',
        set_variables_values: 'magenta;10',
      },
      {
        audience: {
          filters: [
            { field: 'user_id', criteria: 'Equals', value: '3030391' },
            { field: 'favorite_color', criteria: 'Equals', value: 'red' },
          ],
          join: ['AND'],
        },
        set_variables: { new_favorite_color: 'magenta', discount: '10' },
      },
    ],
    // 6–9: list syntaxes
    [
      'filters separated by commas (the vendor table)',
      { audience_filters: 'a,b', audience_criteria: 'Equals', audience_values: '1;2' },
      {
        audience: {
          filters: [
            { field: 'a', criteria: 'Equals', value: '1' },
            { field: 'b', criteria: 'Equals', value: '2' },
          ],
          join: ['AND'],
        },
      },
    ],
    [
      'lists as JSON arrays, values with ; kept whole',
      { audience_filters: ['a', 'b'], audience_criteria: ['Contains', 'Equals'], audience_values: ['x;y', 7], audience_join: ['or'] },
      {
        audience: {
          filters: [
            { field: 'a', criteria: 'Contains', value: 'x;y' },
            { field: 'b', criteria: 'Equals', value: '7' },
          ],
          join: ['OR'],
        },
      },
    ],
    [
      'items trimmed in separated strings',
      { audience_filters: ' a ; b ', audience_criteria: ' equals ', audience_values: ' 1 ; 2 ', audience_join: ' or ' },
      {
        audience: {
          filters: [
            { field: 'a', criteria: 'Equals', value: '1' },
            { field: 'b', criteria: 'Equals', value: '2' },
          ],
          join: ['OR'],
        },
      },
    ],
    [
      'an empty value slot',
      { audience_filters: 'a;b', audience_criteria: 'Equals', audience_values: ';x' },
      {
        audience: {
          filters: [
            { field: 'a', criteria: 'Equals', value: '' },
            { field: 'b', criteria: 'Equals', value: 'x' },
          ],
          join: ['AND'],
        },
      },
    ],
    // 10–12: joins
    [
      'one join for all gaps',
      { audience_filters: 'a;b;c', audience_criteria: 'Equals', audience_values: '1;2;3', audience_join: 'OR' },
      { audience: expect.objectContaining({ join: ['OR', 'OR'] }) },
    ],
    [
      'a join per gap',
      { audience_filters: 'a;b;c', audience_criteria: 'Equals', audience_values: '1;2;3', audience_join: 'OR;AND' },
      { audience: expect.objectContaining({ join: ['OR', 'AND'] }) },
    ],
    [
      'no join means AND',
      { audience_filters: 'a;b', audience_criteria: 'Equals', audience_values: '1;2' },
      { audience: expect.objectContaining({ join: ['AND'] }) },
    ],
    // 13–14: criteria spelling
    [
      'the vendor spelling Cointains',
      { audience_filters: 'a', audience_criteria: 'Cointains', audience_values: 'x' },
      { audience: { filters: [{ field: 'a', criteria: 'Contains', value: 'x' }], join: [] } },
    ],
    [
      'criteria in any case',
      { audience_filters: 'a', audience_criteria: 'ISLONGERTHAN', audience_values: ' 3 ' },
      { audience: { filters: [{ field: 'a', criteria: 'IsLongerThan', value: '3' }], join: [] } },
    ],
    // 15–16: no-value criteria
    [
      'HasValue and EmptyOrUnset with empty slots',
      { audience_filters: 'a;b', audience_criteria: 'HasValue;EmptyOrUnset', audience_values: ';' },
      {
        audience: {
          filters: [
            { field: 'a', criteria: 'HasValue', value: null },
            { field: 'b', criteria: 'EmptyOrUnset', value: null },
          ],
          join: ['AND'],
        },
      },
    ],
    [
      'HasValue without any values',
      { audience_filters: 'a', audience_criteria: 'HasValue' },
      { audience: { filters: [{ field: 'a', criteria: 'HasValue', value: null }], join: [] } },
    ],
    // 17–18: variables without filters
    [
      'set_variables alone: the configured audience, variables set',
      { set_variables: 'x', set_variables_values: '1' },
      { audience: null, set_variables: { x: '1' } },
    ],
    ['set_variables as arrays with ; in a value', { set_variables: ['note'], set_variables_values: ['a;b'] }, { set_variables: { note: 'a;b' } }],
    // 19–20: empty lists
    ['an empty filter string is no filter', { audience_filters: '' }, configured],
    ['an empty filter array is no filter', { audience_filters: [] }, configured],
    // 21–27: set_conversation
    [
      'set_conversation with user_id in set_variables',
      { set_conversation: true, set_variables: 'user_id;bot_channel;first_name', set_variables_values: '42;telegram;Ada' },
      { mode: 'set_conversation', user_id: '42', user_phone_number: null, bot_channel: 'TelegramChannel', set_variables: { first_name: 'Ada' } },
    ],
    [
      'set_conversation by phone on WhatsApp fills user_id',
      { set_conversation: true, set_variables: 'user_phone_number;bot_channel', set_variables_values: '+39 333 111 1111;WhatsAppChannel' },
      { mode: 'set_conversation', user_id: '+393331111111', user_phone_number: '+393331111111', bot_channel: 'WhatsAppChannel' },
    ],
    [
      'set_conversation by user_id on SMS fills the phone',
      { set_conversation: true, user_id: '393331111111', bot_channel: 'sms' },
      { mode: 'set_conversation', user_id: '393331111111', user_phone_number: '393331111111', bot_channel: 'SMSChannel' },
    ],
    [
      'set_conversation without bot_channel (found, or noted as not creatable)',
      { set_conversation: true, set_variables: 'user_id', set_variables_values: '42' },
      { mode: 'set_conversation', user_id: '42', bot_channel: null },
    ],
    ['set_conversation as the string "true"', { set_conversation: 'true', user_id: 7 }, { mode: 'set_conversation', user_id: '7' }],
    [
      'set_conversation ignores audience filters',
      { set_conversation: true, user_id: '1', audience_filters: 'x', audience_criteria: 'Equals', audience_values: 'y' },
      { mode: 'set_conversation', user_id: '1' },
    ],
    ['set_conversation false is an ordinary call', { set_conversation: false }, configured],
    // 28–36: targets
    [
      'SPEC targets example: WhatsApp and Telegram, variables object and pair',
      {
        targets: [
          { user_id: '393331111111', bot_channel: 'WhatsAppChannel', variables: { first_name: 'Ada', order: 'A-17' } },
          { user_id: '42', bot_channel: 'TelegramChannel', set_variables: 'first_name', set_variables_values: 'Linus' },
        ],
      },
      {
        mode: 'targets',
        targets: [
          { user_id: '393331111111', user_phone_number: '393331111111', bot_channel: 'WhatsAppChannel', variables: { first_name: 'Ada', order: 'A-17' } },
          { user_id: '42', user_phone_number: null, bot_channel: 'TelegramChannel', variables: { first_name: 'Linus' } },
        ],
      },
    ],
    [
      'a target on SMS by phone only',
      { targets: [{ user_phone_number: '+1 (415) 555-0100', bot_channel: 'sms' }] },
      { targets: [{ user_id: '+14155550100', user_phone_number: '+14155550100', bot_channel: 'SMSChannel', variables: {} }] },
    ],
    [
      'a target on RCS',
      { targets: [{ user_id: '393331111111', bot_channel: 'rcs' }] },
      { targets: [expect.objectContaining({ bot_channel: 'RCSChannel', user_phone_number: '393331111111' })] },
    ],
    [
      'a target on Messenger by alias',
      { targets: [{ user_id: 'psid-1', bot_channel: 'messenger' }] },
      { targets: [expect.objectContaining({ bot_channel: 'FacebookChannel', user_id: 'psid-1', user_phone_number: null })] },
    ],
    [
      'a target on the web channel',
      { targets: [{ user_id: 'visitor-9', bot_channel: 'WebChannel' }] },
      { targets: [expect.objectContaining({ bot_channel: 'WebChannel' })] },
    ],
    [
      'a target on a custom channel with a phone kept as given',
      { targets: [{ user_id: 'crm-1', bot_channel: 'custom', user_phone_number: '+44 20 7946 0018' }] },
      { targets: [expect.objectContaining({ bot_channel: 'CustomChannel', user_id: 'crm-1', user_phone_number: '+442079460018' })] },
    ],
    ['a numeric user id', { targets: [{ user_id: 42, bot_channel: 'telegram' }] }, { targets: [expect.objectContaining({ user_id: '42' })] }],
    [
      'top-level set_variables beside targets',
      { targets: [{ user_id: '1', bot_channel: 'telegram' }], set_variables: 'campaign', set_variables_values: 'nov' },
      { set_variables: { campaign: 'nov' } },
    ],
    [
      'the same contact twice: one target, later variables win',
      {
        targets: [
          { user_id: '1', bot_channel: 'telegram', variables: { a: 1, b: 1 } },
          { user_id: '1', bot_channel: 'TelegramChannel', variables: { b: 2 } },
        ],
      },
      { targets: [expect.objectContaining({ user_id: '1', variables: { a: 1, b: 2 } })] },
    ],
    [
      'JSON variable values of every kind',
      { targets: [{ user_id: '1', bot_channel: 'web', variables: { n: 1.5, t: true, o: { items: [{ sku: 'X' }] }, z: null } }] },
      { targets: [expect.objectContaining({ variables: { n: 1.5, t: true, o: { items: [{ sku: 'X' }] }, z: null } })] },
    ],
  ])('%s', (_name, body, expected) => {
    expect(accept(body)).toMatchObject(expected);
  });

  // 38–49: every criterion accepted, by its own name
  it.each(CRITERIA.map((c) => [c]))('criterion %s', (criterion) => {
    const value = criterion.startsWith('Is') ? '5' : 'v';
    const audience = (accept({ audience_filters: 'f', audience_criteria: criterion, audience_values: value }) as { audience: unknown }).audience;
    expect(audience).toEqual({
      filters: [{ field: 'f', criteria: criterion, value: criterion === 'HasValue' || criterion === 'EmptyOrUnset' ? null : value }],
      join: [],
    });
  });
});

describe('parseHookPayload — rejected calls name each bad field', () => {
  it.each<[string, unknown, string[]]>([
    // 50–53: the body itself
    ['an array body', [1, 2], ['body']],
    ['a string body', 'hello', ['body']],
    ['a number body', 42, ['body']],
    ['an unknown field (a typo)', { audience_filter: 'a' }, ['audience_filter']],
    // 54–63: counts and presence
    ['criteria count mismatch', { audience_filters: 'a;b;c', audience_criteria: 'Equals;Equals', audience_values: '1;2;3' }, ['audience_criteria']],
    ['values count mismatch', { audience_filters: 'a;b', audience_criteria: 'Equals', audience_values: '1' }, ['audience_values']],
    [
      'join count mismatch',
      { audience_filters: 'a;b;c', audience_criteria: 'Equals', audience_values: '1;2;3', audience_join: 'AND;OR;AND' },
      ['audience_join'],
    ],
    ['criteria missing', { audience_filters: 'a', audience_values: '1' }, ['audience_criteria']],
    ['values missing for a valued criterion', { audience_filters: 'a', audience_criteria: 'Equals' }, ['audience_values']],
    ['criteria without filters', { audience_criteria: 'Equals' }, ['audience_criteria']],
    ['values and join without filters', { audience_values: 'x', audience_join: 'AND' }, ['audience_values', 'audience_join']],
    ['set_variables without values', { set_variables: 'a' }, ['set_variables_values']],
    ['values without set_variables', { set_variables_values: 'a' }, ['set_variables']],
    ['set_variables count mismatch', { set_variables: 'a;b', set_variables_values: '1' }, ['set_variables_values']],
    // 64–70: bad items
    ['an unknown criterion', { audience_filters: 'a', audience_criteria: 'Like', audience_values: 'x' }, ['audience_criteria[0]']],
    ['an unknown criterion among several', { audience_filters: 'a;b', audience_criteria: 'Equals;Near', audience_values: '1;2' }, ['audience_criteria[1]']],
    ['an unknown join', { audience_filters: 'a;b', audience_criteria: 'Equals', audience_values: '1;2', audience_join: 'XOR' }, ['audience_join[0]']],
    ['a length that is not an integer', { audience_filters: 'a', audience_criteria: 'IsShorterThan', audience_values: 'ten' }, ['audience_values[0]']],
    ['a negative length', { audience_filters: 'a', audience_criteria: 'IsLongerThan', audience_values: '-1' }, ['audience_values[0]']],
    [
      'a filter name that is SQL',
      { audience_filters: "x'); DROP TABLE contacts;--", audience_criteria: 'Equals', audience_values: '1;2;3' },
      ['audience_filters[0]', 'audience_filters[1]', 'audience_filters[2]'],
    ],
    ['a filter name not in snake_case', { audience_filters: 'favoriteColor', audience_criteria: 'Equals', audience_values: 'red' }, ['audience_filters[0]']],
    // 71–75: wrong types
    ['filters as a number', { audience_filters: 5 }, ['audience_filters']],
    ['an object inside a list', { audience_filters: ['a', { b: 1 }], audience_criteria: 'Equals', audience_values: '1;2' }, ['audience_filters[1]']],
    ['set_conversation as a number', { set_conversation: 1 }, ['set_conversation']],
    ['a variable name with a dash', { set_variables: 'new-color', set_variables_values: 'x' }, ['set_variables[0]']],
    ['a variable value over 64 KiB', { set_variables: 'big', set_variables_values: ['x'.repeat(64 * 1024 + 1)] }, ['set_variables_values[0]']],
    // 76–80: identity rules
    ['identity fields set in bulk', { set_variables: 'user_id', set_variables_values: '1' }, ['set_variables.user_id']],
    ['user_id without set_conversation', { user_id: '1' }, ['user_id']],
    ['set_conversation with neither id nor phone', { set_conversation: true, set_variables: 'first_name', set_variables_values: 'Ada' }, ['set_variables']],
    ['set_conversation with an unknown channel', { set_conversation: true, user_id: '1', bot_channel: 'email' }, ['bot_channel']],
    [
      'set_conversation with a bad phone',
      { set_conversation: true, set_variables: 'user_phone_number', set_variables_values: 'call me' },
      ['set_variables.user_phone_number'],
    ],
    // 81–92: targets
    ['targets not an array', { targets: { user_id: '1' } }, ['targets']],
    ['no targets', { targets: [] }, ['targets']],
    ['a target that is a string', { targets: ['42'] }, ['targets[0]']],
    ['a target without bot_channel', { targets: [{ user_id: '1' }] }, ['targets[0].bot_channel']],
    ['a target without user_id on Telegram', { targets: [{ bot_channel: 'telegram' }] }, ['targets[0].user_id']],
    ['a target with only a phone on Telegram', { targets: [{ user_phone_number: '+393331111111', bot_channel: 'telegram' }] }, ['targets[0].user_id']],
    ['a WhatsApp target whose id is not a number', { targets: [{ user_id: 'ada', bot_channel: 'whatsapp' }] }, ['targets[0].user_id']],
    [
      'a WhatsApp target whose id and phone differ',
      { targets: [{ user_id: '111111', user_phone_number: '222222', bot_channel: 'whatsapp' }] },
      ['targets[0].user_phone_number'],
    ],
    ['an unknown target field', { targets: [{ user_id: '1', bot_channel: 'web', name: 'x' }] }, ['targets[0].name']],
    ['variables that are not an object', { targets: [{ user_id: '1', bot_channel: 'web', variables: ['a'] }] }, ['targets[0].variables']],
    [
      'a target setting an identity variable',
      { targets: [{ user_id: '1', bot_channel: 'web', variables: { bot_channel: 'sms' } }] },
      ['targets[0].variables.bot_channel'],
    ],
    [
      'targets mixed with filters',
      { targets: [{ user_id: '1', bot_channel: 'web' }], audience_filters: 'a', audience_criteria: 'Equals', audience_values: 'b' },
      ['audience_filters', 'audience_criteria', 'audience_values'],
    ],
    ['targets with set_conversation', { set_conversation: true, user_id: '1', targets: [] }, ['targets']],
    [
      'bad targets reject the whole call, each index named',
      { targets: [{ user_id: '1', bot_channel: 'web' }, { user_id: '2' }, { user_id: '3', bot_channel: 'web' }, { bot_channel: 'fax', user_id: '4' }] },
      ['targets[1].bot_channel', 'targets[3].bot_channel'],
    ],
  ])('%s', (_name, body, paths) => {
    expect(rejectPaths(body)).toEqual(paths);
  });

  it('refuses more targets than the configured maximum', () => {
    const targets = Array.from({ length: 4 }, (_, i) => ({ user_id: String(i), bot_channel: 'web' }));
    expect(rejectPaths({ targets }, { requireValidFilter: true, maxTargets: 3 })).toEqual(['targets']);
    expect(accept({ targets }, { requireValidFilter: true, maxTargets: 4 })).toMatchObject({ mode: 'targets' });
  });

  it('refuses more filters than MAX_FILTERS, the bound the admin API sets', () => {
    const filters = (n: number) => ({
      audience_filters: Array(n).fill('tier'),
      audience_criteria: 'Equals',
      audience_values: Array(n).fill('gold'),
      audience_join: 'or',
    });
    expect(accept(filters(MAX_FILTERS))).toMatchObject({ mode: 'audience' });
    const result = parseHookPayload(filters(MAX_FILTERS + 1), STRICT);
    expect(result).toEqual({
      ok: false,
      errors: [{ path: 'audience_filters', message: `has ${MAX_FILTERS + 1} filters`, expected: `at most ${MAX_FILTERS}` }],
    });
  });

  it('summarises past 100 problems', () => {
    const targets = Array.from({ length: 150 }, () => ({ user_id: 'x' }));
    const result = parseHookPayload({ targets }, STRICT);
    expect(result.ok).toBe(false);
    if (!result.ok) {
      expect(result.errors).toHaveLength(101);
      expect(result.errors[100]).toMatchObject({ path: 'body', message: 'and 50 more problems' });
    }
  });
});

describe('parseHookPayload — require_valid_filter = false', () => {
  const LENIENT: ParseOptions = { requireValidFilter: false, maxTargets: 10_000 };

  it('accepts any JSON object and keeps it as the payload', () => {
    const body = { order: { id: 'A-17', items: [{ sku: 'X' }] }, customer: 'Ada' };
    expect(parseHookPayload(body, LENIENT)).toEqual({
      ok: true,
      request: { mode: 'audience', audience: null, set_variables: {}, payload: body },
      notes: [],
    });
  });

  it('ignores hook fields that do not parse, says so, and targets the configured audience', () => {
    const body = { audience_filters: 'tier', audience_criteria: 'Near', audience_values: 'gold' };
    expect(parseHookPayload(body, LENIENT)).toEqual({
      ok: true,
      request: { mode: 'audience', audience: null, set_variables: {}, payload: body },
      notes: [expect.stringMatching(/^payload not used as a filter \(1 problem, e\.g\. audience_criteria\[0\]/)],
    });
  });

  it('still honours fields that parse, and keeps the payload beside them', () => {
    const body = { audience_filters: 'tier', audience_criteria: 'Equals', audience_values: 'gold', coupon: 'X1' };
    const result = parseHookPayload(body, LENIENT);
    expect(result).toMatchObject({ ok: true, request: { audience: { filters: [{ field: 'tier' }] }, payload: body } });
  });

  it('still rejects a body that is not an object', () => {
    expect(parseHookPayload([1], LENIENT).ok).toBe(false);
  });
});
