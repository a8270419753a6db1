#!/usr/bin/env node
// `pnpm start`: apply migrations, then run ingress, admin and worker side by side in this
// terminal, on the local Postgres and Redis (or whatever DATABASE_URL / REDIS_URL / .env say).
// Ctrl+C or SIGTERM stops all three gracefully; if one of them dies, the others are stopped
// and the exit code is 1. Each process logs JSON lines stamped with its "service".
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SERVICES = ['ingress', 'admin', 'worker'];

function run(app, args = []) {
  return spawn(process.execPath, [join(root, 'apps', app, 'dist', 'main.js'), ...args], {
    cwd: root,
    stdio: 'inherit',
  });
}

function exitCodeOf(child) {
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0))));
}

const migrated = await exitCodeOf(run('migrate', ['up']));
if (migrated !== 0) {
  console.error(`herald: migrations failed (exit ${migrated}); not starting the services`);
  process.exit(migrated);
}

const children = SERVICES.map((app) => ({ app, child: run(app) }));
let stopping = false;
let failed = false;

function stopAll(signal) {
  if (stopping) return;
  stopping = true;
  for (const { child } of children) if (child.exitCode === null) child.kill(signal);
}

for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => stopAll('SIGTERM'));

await Promise.all(
  children.map(async ({ app, child }) => {
    const code = await exitCodeOf(child);
    if (code !== 0 || !stopping) {
      failed = true;
      console.error(`herald: ${app} exited with ${code}${stopping ? '' : '; stopping the others'}`);
    }
    stopAll('SIGTERM');
  }),
);
process.exit(failed ? 1 : 0);
