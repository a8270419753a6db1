import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { REPO_ROOT } from '@herald/testing';

/** Test support (excluded from the build): the built CLI as a child process, as a user runs it. */

/** `pnpm build` makes it (`pnpm test` builds first). */
export const CLI_ENTRY = join(REPO_ROOT, 'apps', 'cli', 'dist', 'main.js');

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

export interface StartedCli {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves when it exits, with everything it wrote. */
  done: Promise<CliResult>;
}

/**
 * Starts `node apps/cli/dist/main.js …args` with `env` on top of PATH only (so neither the
 * developer's HERALD_ADMIN_URL nor ADMIN_API_KEY leaks in), in a temporary directory, stdin
 * fed with `stdin` (or closed). stdout and stderr are pipes: not a terminal.
 */
export function startCli(args: readonly string[], env: Record<string, string> = {}, { stdin }: { stdin?: string } = {}): StartedCli {
  const child = spawn(process.execPath, [CLI_ENTRY, ...args], { cwd: tmpdir(), env: { PATH: process.env['PATH'] ?? '', ...env }, stdio: 'pipe' });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString('utf8')));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdin.end(stdin ?? '');
  const done = new Promise<CliResult>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, stdout: () => stdout, stderr: () => stderr, done };
}

export function runCli(args: readonly string[], env: Record<string, string> = {}, options: { stdin?: string } = {}): Promise<CliResult> {
  return startCli(args, env, options).done;
}
