import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/**
 * What `pnpm start` does with the keys it generates (the admin key, HERALD_SECRET_KEY): they go
 * into `./.env`, where later starts and the quick start's commands find them.
 */

/** Whether the file names `name`, even with an empty value. */
export function envFileNames(envFile: string, name: string): boolean {
  return existsSync(envFile) && name in parseEnv(readFileSync(envFile, 'utf8'));
}

/** Appends `lines` on lines of their own; a new file is created readable by its owner only. */
export function appendToEnvFile(envFile: string, lines: readonly string[]): void {
  const separator = existsSync(envFile) && !readFileSync(envFile, 'utf8').endsWith('\n') ? '\n' : '';
  appendFileSync(envFile, `${separator}${lines.join('\n')}\n`, { mode: 0o600 });
}
