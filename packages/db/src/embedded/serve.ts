import { startEmbeddedDatabase } from './embedded-database';

/**
 * `node packages/db/dist/embedded/serve.js`: an embedded database in a process of its own, for
 * tests (jest's module sandbox cannot load PGlite) and for looking into a data folder while
 * Herald is stopped. `EMBEDDED_DATA_DIR` (default `memory://`), `EMBEDDED_DB_PORT` (default 0).
 * Prints one JSON line with the URL once it accepts connections; SIGTERM closes it cleanly.
 */
async function main(): Promise<void> {
  const database = await startEmbeddedDatabase({
    dataDir: process.env['EMBEDDED_DATA_DIR'] ?? 'memory://',
    port: Number(process.env['EMBEDDED_DB_PORT'] ?? 0),
    onLongWait: (waitedMs) => process.stderr.write(`embedded database: a transaction has kept others waiting ${waitedMs} ms\n`),
  });
  process.stdout.write(`${JSON.stringify({ url: database.url })}\n`);
  const stop = () =>
    void database.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
