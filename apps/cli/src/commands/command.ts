import type { Readable } from 'node:stream';
import type { AdminClient } from '../admin-client';
import type { OptionSpec, OptionValues } from '../args';
import type { ExitCode } from '../errors';
import type { Output } from '../output';

/** What a command gets to work with; nothing global, so a command reads only what it is given. */
export interface CommandContext {
  out: Output;
  env: NodeJS.ProcessEnv;
  stdin: Readable;
  /** The admin API from HERALD_ADMIN_URL and ADMIN_API_KEY, checked on first use (the hook call needs neither). */
  admin(): AdminClient;
  /** What Ctrl+C leaves behind, said when it comes (exit 130). */
  onInterrupt(message: string): void;
  now(): number;
}

/**
 * One `herald <group> <action>`: its help and option table (parsed strictly by args.ts), and
 * `run`, which checks its arguments itself, does the work, and returns the exit code. Expected
 * failures are thrown as CliError (errors.ts).
 */
export interface CommandSpec {
  words: readonly [string, string];
  /** The arguments in one line, for the usage line: `FILE --bot ID [--format ndjson|csv]`. */
  synopsis: string;
  summary: string;
  /** The rest of `--help`: options, what it prints, examples. */
  help: string;
  options: OptionSpec;
  run(ctx: CommandContext, args: { positionals: string[]; values: OptionValues }): Promise<ExitCode>;
}
