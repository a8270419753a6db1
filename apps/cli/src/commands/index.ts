import { broadcastsList, broadcastsShow } from './broadcasts';
import type { CommandSpec } from './command';
import { contactsImport } from './contacts-import';
import { hookCall } from './hook-call';
import { runsWatch } from './runs-watch';

/** Every command, in the order `herald --help` lists them. */
export const COMMANDS: readonly CommandSpec[] = [contactsImport, broadcastsList, broadcastsShow, runsWatch, hookCall];

export function findCommand(words: readonly string[]): CommandSpec | undefined {
  return COMMANDS.find((c) => c.words[0] === words[0] && c.words[1] === words[1]);
}

export function commandsOf(group: string): CommandSpec[] {
  return COMMANDS.filter((c) => c.words[0] === group);
}

export type { CommandContext, CommandSpec } from './command';
