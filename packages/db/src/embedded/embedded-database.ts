import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { startSessionServer } from './session-server';

export interface EmbeddedDatabaseOptions {
  /** A folder for the data (made if missing), or `memory://` for a database that dies with the process. */
  dataDir: string;
  /** Where the wire-protocol server listens: loopback, since it asks for no password. */
  host?: string;
  /** 0 (default) picks a free port; set one to reach the database with psql. */
  port?: number;
  onLongWait?: (waitedMs: number) => void;
}

export interface EmbeddedDatabase {
  /** A `postgres://` URL for `pg`, Kysely, BullMQ or psql. */
  readonly url: string;
  readonly dataDir: string;
  close(): Promise<void>;
}

/**
 * Postgres without a server to install: PGlite (Postgres compiled to WebAssembly) with its data
 * in `dataDir`, served on loopback by the session server, so every part of Herald connects to
 * it with the URL as it would to Postgres. One process owns a data folder at a time (a lock
 * file beside it): PGlite itself would let a second one write into it.
 */
export async function startEmbeddedDatabase({ dataDir, host = '127.0.0.1', port = 0, onLongWait }: EmbeddedDatabaseOptions): Promise<EmbeddedDatabase> {
  const inMemory = dataDir.startsWith('memory://');
  const folder = inMemory ? dataDir : resolve(dataDir);
  const releaseLock = inMemory ? () => undefined : lockDataDir(folder);
  try {
    if (!inMemory) mkdirSync(folder, { recursive: true });
    // Loaded when used: processes on the services backend never pay for the WebAssembly.
    const { PGlite } = await import('@electric-sql/pglite');
    const db = new PGlite(folder);
    await db.waitReady;
    const server = await startSessionServer({ db, host, port, onLongWait });
    return {
      url: `postgres://postgres@${host}:${server.port}/postgres`,
      dataDir: folder,
      close: async () => {
        await server.close();
        await db.close();
        releaseLock();
      },
    };
  } catch (error) {
    releaseLock();
    throw error;
  }
}

/**
 * Takes `<dataDir>.lock` for this process, or fails naming the process that holds it. A lock
 * left by a process that is gone (killed) is taken over.
 */
function lockDataDir(dataDir: string): () => void {
  const path = `${dataDir}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fd = openSync(path, 'wx');
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return () => rmSync(path, { force: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const holder = Number(readFileSync(path, 'utf8').trim());
      if (Number.isInteger(holder) && holder > 0 && holder !== process.pid && isAlive(holder)) {
        throw new Error(`the data folder ${dataDir} is in use by process ${holder} (${path}); stop it first, or set another folder`);
      }
      rmSync(path, { force: true }); // left by a process that died
    }
  }
  throw new Error(`could not take ${path}`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
