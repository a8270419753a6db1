import { parseArgs, type ParseArgsConfig } from 'node:util';
import { isUuid } from '@herald/core';
import { UsageError } from './errors';

export type OptionSpec = NonNullable<ParseArgsConfig['options']>;
export type OptionValues = Record<string, string | boolean | undefined>;

/** Options every command takes, wherever they appear on the line. */
export const GLOBAL_OPTIONS = {
  json: { type: 'boolean' },
  quiet: { type: 'boolean', short: 'q' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const satisfies OptionSpec;

const GLOBAL_FLAGS = new Set(['--json', '--quiet', '-q', '--help', '-h', '--version']);

/**
 * The command words (`contacts import`) and everything else, in order. Words are the first
 * (at most two) arguments that are not options; global flags may come before them
 * (`herald --json runs watch …`), any other option ends the words.
 */
export function splitCommand(argv: readonly string[]): { words: string[]; rest: string[] } {
  const words: string[] = [];
  const rest: string[] = [];
  let inWords = true;
  for (const token of argv) {
    if (inWords && words.length < 2 && !token.startsWith('-')) words.push(token);
    else {
      if (!GLOBAL_FLAGS.has(token) || words.length === 2) inWords = false;
      rest.push(token);
    }
  }
  return { words, rest };
}

/**
 * A command's arguments by its option table, strictly: an unknown option, a missing value or
 * a wrong number of positionals is a usage error naming the command's help.
 */
export function parseCommandArgs(rest: readonly string[], options: OptionSpec, command: string): { positionals: string[]; values: OptionValues } {
  try {
    const { positionals, values } = parseArgs({ args: [...rest], options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
    return { positionals, values };
  } catch (error) {
    throw new UsageError((error as Error).message, `see herald ${command} --help`);
  }
}

export function expectPositionals(positionals: readonly string[], names: readonly string[], command: string): void {
  if (positionals.length < names.length) {
    throw new UsageError(`missing ${names.slice(positionals.length).join(' ')}`, `usage: herald ${command} ${names.join(' ')} …; see herald ${command} --help`);
  }
  if (positionals.length > names.length) {
    throw new UsageError(`unexpected argument "${positionals[names.length]}"`, `see herald ${command} --help`);
  }
}

export function stringOption(values: OptionValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === 'string' ? value : undefined;
}

export function requiredOption(values: OptionValues, name: string, command: string): string {
  const value = stringOption(values, name);
  if (value === undefined || value === '') throw new UsageError(`--${name} is required`, `see herald ${command} --help`);
  return value;
}

export function integerOption(values: OptionValues, name: string, { min, max, fallback }: { min: number; max: number; fallback: number }): number {
  const raw = stringOption(values, name);
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!/^\d+$/.test(raw) || value < min || value > max) throw new UsageError(`--${name} is ${raw}: expected an integer from ${min} to ${max}`);
  return value;
}

/**
 * Herald's ids are UUIDs; anything else would only meet a 404 from the server, so it is
 * refused here with a clearer word.
 */
export function idArgument(value: string, what: string): string {
  if (!isUuid(value)) throw new UsageError(`"${value}" is not a ${what} id`, `${what} ids are UUIDs, like 0b6c9f5e-8d1a-4c3e-9f2b-5a7d1e0c4b21`);
  return value.toLowerCase();
}
