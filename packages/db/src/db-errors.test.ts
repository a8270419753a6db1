import { describeRefusal, isContactVariablesOverBound, isDatabaseUnavailable, isRefusedForGood } from './db-errors';

/** An error as pg raises it: a message, a SQLSTATE or a Node network code, sometimes a constraint and a detail. */
const pgError = (code: string, extra: Record<string, unknown> = {}) => Object.assign(new Error(`failed with ${code}`), { code, ...extra });

describe('database error classes', () => {
  it.each([
    ['23514', 'check violation', ''],
    ['23505', 'unique violation', ''],
    ['21000', 'a row affected twice by one upsert', ''],
    ['22P02', 'invalid text representation', ''],
    ['54000', 'program limit exceeded (e.g. jsonb too large)', ''],
    ['57014', 'the statement timeout', 'canceling statement due to statement timeout'],
    ['08P01', 'more than 65,535 bind parameters', 'bind message has 9466 parameter formats but 0 parameters'],
    ['P0001', 'raised by a database trigger', ''],
  ])('%s (%s) is refused for good: retrying gives the same answer', (code, _what, message) => {
    const error = pgError(code, message ? { message } : {});
    expect(isRefusedForGood(error)).toBe(true);
    expect(isDatabaseUnavailable(error)).toBe(false);
  });

  it.each([
    ['ECONNREFUSED', 'Postgres not listening', ''],
    ['57P01', 'admin shutdown', ''],
    ['08006', 'connection failure', ''],
    ['08P01', 'a protocol error of the connection', 'invalid message format'],
    ['53300', 'too many connections', ''],
    ['53100', 'disk full', ''],
    ['53200', 'out of memory', ''],
    ['57014', 'a cancel by an operator', 'canceling statement due to user request'],
    ['40P01', 'deadlock', ''],
    ['40001', 'serialization failure', ''],
    ['42P01', 'a table missing (a deploy half done)', ''],
    ['XX000', 'an internal error', ''],
  ])('%s (%s) is not: it is retried', (code, _what, message) => {
    expect(isRefusedForGood(pgError(code, message ? { message } : {}))).toBe(false);
  });

  it('is not for an error without a SQLSTATE (a bug of ours, a lost connection)', () => {
    expect(isRefusedForGood(new TypeError('x is undefined'))).toBe(false);
    expect(isRefusedForGood(new Error('Connection terminated unexpectedly'))).toBe(false);
    expect(isRefusedForGood(undefined)).toBe(false);
  });

  it('describes a refusal by message and SQLSTATE, never by the row in its detail', () => {
    const error = pgError('23514', { detail: 'Failing row contains (secret@example.com, …)' });
    expect(describeRefusal(error)).toBe('failed with 23514 (SQLSTATE 23514)');
  });

  it('tells a contact past its variables bound from other check violations', () => {
    expect(isContactVariablesOverBound(pgError('23514', { constraint: 'contacts_variables_bounded' }))).toBe(true);
    expect(isContactVariablesOverBound(pgError('23514', { constraint: 'runs_sent_check' }))).toBe(false);
  });
});
