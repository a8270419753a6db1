import { idArgument, integerOption, parseCommandArgs, splitCommand } from './args';
import { importFormat } from './commands/contacts-import';
import { UsageError } from './errors';

describe('command line parsing', () => {
  it('takes the first two words as the command, global flags before them included', () => {
    expect(splitCommand(['contacts', 'import', 'a.csv', '--bot', 'x'])).toEqual({ words: ['contacts', 'import'], rest: ['a.csv', '--bot', 'x'] });
    expect(splitCommand(['--json', 'runs', 'watch', 'id', '--quiet'])).toEqual({ words: ['runs', 'watch'], rest: ['--json', 'id', '--quiet'] });
    // Any other option ends the words: its value is not a command word.
    expect(splitCommand(['--bot', 'x', 'contacts'])).toEqual({ words: [], rest: ['--bot', 'x', 'contacts'] });
    expect(splitCommand(['contacts', '--help'])).toEqual({ words: ['contacts'], rest: ['--help'] });
  });

  it("parses a command's options strictly: unknown options and missing values are usage errors", () => {
    const options = { bot: { type: 'string' as const }, all: { type: 'boolean' as const } };
    expect(parseCommandArgs(['--bot', 'b1', '--all', '--json', 'extra'], options, 'broadcasts list')).toEqual({
      positionals: ['extra'],
      values: { bot: 'b1', all: true, json: true },
    });
    expect(() => parseCommandArgs(['--nope'], options, 'broadcasts list')).toThrow(UsageError);
    expect(() => parseCommandArgs(['--bot'], options, 'broadcasts list')).toThrow(/--bot/);
  });

  it('checks integers and ids before anything is sent', () => {
    expect(integerOption({}, 'limit', { min: 1, max: 500, fallback: 50 })).toBe(50);
    expect(integerOption({ limit: '500' }, 'limit', { min: 1, max: 500, fallback: 50 })).toBe(500);
    for (const bad of ['0', '501', '2.5', '-1', 'ten', '']) {
      expect(() => integerOption({ limit: bad }, 'limit', { min: 1, max: 500, fallback: 50 })).toThrow(`--limit is ${bad}: expected an integer from 1 to 500`);
    }
    expect(idArgument('0B6C9F5E-8D1A-4C3E-9F2B-5A7D1E0C4B21', 'bot')).toBe('0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21');
    expect(() => idArgument('42', 'bot')).toThrow('"42" is not a bot id');
  });

  it('tells the import format from --format, else the extension; stdin needs --format', () => {
    expect(importFormat('a.NDJSON', undefined)).toBe('ndjson');
    expect(importFormat('dir.v2/a.jsonl', undefined)).toBe('ndjson');
    expect(importFormat('a.csv', undefined)).toBe('csv');
    expect(importFormat('a.txt', 'csv')).toBe('csv');
    expect(() => importFormat('a.txt', undefined)).toThrow('cannot tell the format of a.txt');
    expect(() => importFormat('a.csv', 'xml')).toThrow('--format is xml');
    expect(() => importFormat('-', undefined)).toThrow('--format is required');
  });
});
