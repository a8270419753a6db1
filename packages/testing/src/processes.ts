import { spawn, type ChildProcess } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { TEST_SECRET_KEY } from './secrets';
import { freePort, waitFor } from './wait';

/** The repository root, from this file's place in packages/testing/src (or dist). */
export const REPO_ROOT = resolve(__dirname, '..', '..', '..');

/** The HTTP services, each of which can run as a process of its own. */
export type HeraldService = 'ingress' | 'admin' | 'worker';
/** Every built entry point: the services, the migrate command, and `pnpm start`'s all-in-one. */
export type HeraldApp = HeraldService | 'migrate' | 'all-in-one';

export interface ExitResult {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export interface StartedProcess {
  child: ChildProcess;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  exited: Promise<ExitResult>;
  /** Sends `signal` (SIGTERM by default) and resolves with how the process ended. */
  stop(signal?: NodeJS.Signals): Promise<ExitResult & { elapsedMs: number }>;
}

/**
 * Starts a built Herald process (`apps/<app>/dist/main.js`, so `pnpm build` must have run —
 * `pnpm test` does) with `env` on top of a minimal environment (HERALD_SECRET_KEY included:
 * `HERALD_SECRET_KEY: ''` unsets it). It runs in a temporary
 * directory so a developer's `.env` file never leaks into a test (`cwd` names another, for a
 * test of the `.env` file itself).
 */
export function startProcess(app: HeraldApp, env: Record<string, string>, args: string[] = [], { cwd = tmpdir() } = {}): StartedProcess {
  const child = spawn(process.execPath, [join(REPO_ROOT, 'apps', app, 'dist', 'main.js'), ...args], {
    cwd,
    // The tests' secret key, so credentials the test writes (TEST_SECRETS) open in the process.
    env: { PATH: process.env['PATH'] ?? '', NODE_ENV: 'test', LOG_LEVEL: 'debug', HERALD_SECRET_KEY: TEST_SECRET_KEY, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString('utf8')));
  const exited = new Promise<ExitResult>((resolveExit) => {
    child.once('exit', (code, signal) => resolveExit({ code, signal }));
  });
  return {
    child,
    output: () => output,
    exited,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      const started = Date.now();
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      const result = await exited;
      return { ...result, elapsedMs: Date.now() - started };
    },
  };
}

/** Resolves when `GET http://127.0.0.1:<port><path>` answers `status`; fails with the logs if the process dies. */
export async function waitForHttp(started: StartedProcess, port: number, { path = '/healthz', status = 200, timeoutMs = 15_000 } = {}): Promise<Response> {
  return waitFor(
    async () => {
      if (started.child.exitCode !== null) {
        throw new Error(`process exited with ${started.child.exitCode}:\n${started.output()}`);
      }
      const response = await fetch(`http://127.0.0.1:${port}${path}`).catch(() => undefined);
      return response?.status === status ? response : undefined;
    },
    { timeoutMs, what: `${path} to answer ${status} on port ${port}` },
  );
}

/** The variable that sets each service's HTTP port. */
export const PORT_VARIABLE: Readonly<Record<HeraldService, string>> = {
  ingress: 'INGRESS_PORT',
  admin: 'ADMIN_PORT',
  worker: 'WORKER_PORT',
};

/**
 * Starts a Herald service on a free loopback port and waits until `/readyz` answers 200 (it
 * fails with the process's logs if it dies first). `env` is added to `HOST=127.0.0.1`.
 */
export async function startReadyProcess(app: HeraldService, env: Record<string, string>): Promise<{ process: StartedProcess; port: number }> {
  const port = await freePort();
  const started = startProcess(app, { HOST: '127.0.0.1', ...env, [PORT_VARIABLE[app]]: String(port) });
  // A startup wait, not a timing check: generous, for a machine busy with the rest of the suite.
  await waitForHttp(started, port, { path: '/readyz', timeoutMs: 45_000 }).catch(async (error: unknown) => {
    await started.stop('SIGKILL');
    throw error;
  });
  return { process: started, port };
}
