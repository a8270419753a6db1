import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { REPO_ROOT } from './processes';

export interface EmbeddedDatabaseProcess {
  url: string;
  /** Everything the process wrote to stderr so far. */
  errors(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/**
 * An embedded database (PGlite behind Herald's session server) in a child process — the built
 * `packages/db/dist/embedded/serve.js`, so `pnpm build` must have run. Jest's module sandbox
 * cannot load PGlite (it imports parts of itself dynamically), hence the process. In memory
 * unless `dataDir` is given.
 */
export function startEmbeddedDatabaseProcess({
  dataDir = 'memory://',
  longWaitMs,
}: { dataDir?: string; longWaitMs?: number } = {}): Promise<EmbeddedDatabaseProcess> {
  const wait = longWaitMs ?? process.env['EMBEDDED_LONG_WAIT_MS'];
  const child = spawn(process.execPath, [join(REPO_ROOT, 'packages', 'db', 'dist', 'embedded', 'serve.js')], {
    env: { PATH: process.env['PATH'] ?? '', EMBEDDED_DATA_DIR: dataDir, ...(wait !== undefined ? { EMBEDDED_LONG_WAIT_MS: String(wait) } : {}) },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return new Promise((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      if (!line) return;
      resolve({
        url: (JSON.parse(line) as { url: string }).url,
        errors: () => stderr,
        stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
          if (child.exitCode === null && child.signalCode === null) child.kill(signal);
          await exited;
        },
      });
    });
    child.once('exit', (code) => reject(new Error(`the embedded database exited with ${code} before it was ready:\n${stderr}`)));
  });
}
