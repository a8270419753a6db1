#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AdminClient, adminTarget } from './admin-client';
import { parseCommandArgs, splitCommand } from './args';
import { COMMANDS, commandsOf, findCommand, type CommandContext } from './commands';
import { CliError, EXIT, UsageError } from './errors';
import { commandHelp, groupHelp, mainHelp } from './help';
import { Output, type Writer } from './output';
import { DEFAULT_LOG_INTERVAL_MS, type ProgressStream } from './progress';

/** herald: the command line for a Herald deployment's admin API (docs/cli.md). */

export interface CliIo {
  argv: readonly string[];
  env: NodeJS.ProcessEnv;
  stdin: Readable;
  stdout: Writer;
  stderr: ProgressStream;
}

/** Runs one command line and returns its exit code; every expected failure is reported here. */
export async function main(io: CliIo): Promise<number> {
  // Known before the line is parsed, so that even a usage error is reported as --json asks.
  const json = io.argv.includes('--json');
  const quiet = io.argv.includes('--quiet') || io.argv.includes('-q');
  const interval = io.env['HERALD_PROGRESS_INTERVAL_MS'];
  const logIntervalMs = interval === undefined || interval === '' ? DEFAULT_LOG_INTERVAL_MS : /^\d+$/.test(interval) ? Number(interval) : Number.NaN;
  const out = new Output(io.stdout, io.stderr, { json, quiet, logIntervalMs: Number.isNaN(logIntervalMs) ? DEFAULT_LOG_INTERVAL_MS : logIntervalMs });

  let interruptMessage = 'nothing was sent';
  const onSigint = () => {
    out.interrupted(interruptMessage);
    process.exit(EXIT.interrupted);
  };
  process.once('SIGINT', onSigint);
  try {
    if (Number.isNaN(logIntervalMs)) throw new UsageError(`HERALD_PROGRESS_INTERVAL_MS is ${interval}: expected a number of milliseconds`);
    return await dispatch(io, out, (message) => (interruptMessage = message));
  } catch (error) {
    if (error instanceof CliError) {
      out.error(error);
      return error.exitCode;
    }
    // A bug of the CLI, not a condition of the server: shown whole.
    io.stderr.write(`herald: unexpected error (please report it)\n${(error as Error).stack ?? String(error)}\n`);
    return EXIT.failed;
  } finally {
    process.off('SIGINT', onSigint);
  }
}

async function dispatch(io: CliIo, out: Output, onInterrupt: (message: string) => void): Promise<number> {
  const { words, rest } = splitCommand(io.argv);
  const wantsHelp = rest.includes('--help') || rest.includes('-h');
  if (words.length === 0) {
    if (rest.includes('--version')) return print(io, version());
    if (wantsHelp) return print(io, mainHelp(COMMANDS));
    if (rest.length === 0) {
      io.stderr.write(`${mainHelp(COMMANDS)}\n`);
      return EXIT.usage;
    }
  }
  const command = findCommand(words);
  if (!command) {
    const group = commandsOf(words[0] ?? '');
    if (group.length && words.length === 1 && wantsHelp) return print(io, groupHelp(words[0]!, group));
    if (group.length) throw new UsageError(`"${words.join(' ')}" is not a command`, `one of: ${group.map((c) => c.words.join(' ')).join(', ')}`);
    throw new UsageError(words.length ? `unknown command "${words.join(' ')}"` : `expected a command before ${rest[0]}`);
  }

  const name = command.words.join(' ');
  const args = parseCommandArgs(rest, command.options, name);
  if (args.values['help']) return print(io, commandHelp(command));
  let admin: AdminClient | undefined;
  const ctx: CommandContext = {
    out,
    env: io.env,
    stdin: io.stdin,
    admin: () => (admin ??= new AdminClient(adminTarget(io.env))),
    onInterrupt,
    now: () => Date.now(),
  };
  return command.run(ctx, args);
}

function print(io: CliIo, text: string): number {
  io.stdout.write(`${text}\n`);
  return EXIT.ok;
}

/** From the package next to dist/ (or src/ under the tests). */
function version(): string {
  const pkg = JSON.parse(readFileSync(join(__dirname, '..', 'package.json'), 'utf8')) as { version: string };
  return `herald ${pkg.version}`;
}

if (require.main === module) {
  void main({ argv: process.argv.slice(2), env: process.env, stdin: process.stdin, stdout: process.stdout, stderr: process.stderr }).then((code) => {
    // exitCode rather than exit(): what was written to a pipe is flushed first.
    process.exitCode = code;
  });
}
