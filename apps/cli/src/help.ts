import { DEFAULT_ADMIN_URL } from './admin-client';
import type { CommandSpec } from './commands';
import { EXIT } from './errors';

/** The help texts, made from the command table so a command cannot be missing from them. */

const GLOBAL_HELP = `Options of every command:
  --json        print the result as JSON on stdout (progress stays on stderr)
  -q, --quiet   no progress or notes on stderr (errors still)
  -h, --help    this help; herald <command> --help for one command's
  --version     the CLI's version`;

const ENV_HELP = `Environment:
  HERALD_ADMIN_URL             the admin API (default ${DEFAULT_ADMIN_URL})
  ADMIN_API_KEY                its key, sent as Authorization: Bearer <key>
  HERALD_BOT_TOKEN             a bot's API token, for hook call (or --token)
  HERALD_PROGRESS_INTERVAL_MS  progress lines when stderr is not a terminal: at most one
                               per this many ms (default 1000)`;

const EXIT_HELP = `Exit codes:
  ${EXIT.ok}    done
  ${EXIT.failed}    the server answered an error (4xx/5xx), or the run ended failed/cancelled
  ${EXIT.usage}    usage: bad or missing arguments or environment (nothing was sent)
  ${EXIT.unreachable}    the server could not be reached, or the connection broke
  ${EXIT.interrupted}  interrupted (Ctrl+C)`;

/** Usage on one line, what it does under it: synopses are too long to share a line. */
function commandList(commands: readonly CommandSpec[]): string {
  return commands.map((c) => `  ${c.words.join(' ')} ${c.synopsis}\n      ${c.summary}`).join('\n');
}

export function mainHelp(commands: readonly CommandSpec[]): string {
  return [
    "herald: the command line for a Herald deployment's admin API",
    'Usage: herald <command> [options]',
    `Commands:\n${commandList(commands)}`,
    GLOBAL_HELP,
    ENV_HELP,
    EXIT_HELP,
    'Documentation: docs/cli.md',
  ].join('\n\n');
}

export function groupHelp(group: string, commands: readonly CommandSpec[]): string {
  return [`Usage: herald ${group} <command> [options]`, `Commands:\n${commandList(commands)}`, `herald ${group} <command> --help for more.`].join('\n\n');
}

export function commandHelp(command: CommandSpec): string {
  return [
    `Usage: herald ${command.words.join(' ')} ${command.synopsis}`,
    `${command.summary[0]!.toUpperCase()}${command.summary.slice(1)}.`,
    command.help,
    GLOBAL_HELP,
  ].join('\n\n');
}
