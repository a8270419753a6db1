import { existsSync, readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';

/**
 * The process environment overlaid on the `.env` file at `path`, when there is one.
 * Variables set in the real environment win, as with every dotenv tool, so a deploy can
 * override a checked-in default without editing the file.
 */
export function readEnvironment(processEnv: Readonly<Record<string, string | undefined>>, path = '.env'): Record<string, string | undefined> {
  if (!existsSync(path)) return { ...processEnv };
  const fromFile = parseEnv(readFileSync(path, 'utf8'));
  return { ...fromFile, ...processEnv };
}
