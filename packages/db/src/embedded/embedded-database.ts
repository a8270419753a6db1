import { linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { startSessionServer, type SessionServerOptions } from './session-server';

/** Where and how the database is served (loopback, since it asks for no password; a fixed
 *  port lets psql in), and where its data is. */
export interface EmbeddedDatabaseOptions extends Omit<SessionServerOptions, 'db'> {
  /** A folder for the data (made if missing), or `memory://` for a database that dies with the process. */
  dataDir: string;
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
  const releaseLock = inMemory ? () => undefined : await lockDataDir(folder);
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

/** A process that held the folder may still be exiting (a kill -9 takes a moment to finish). */
const LOCK_WAIT_MS = 5_000;

/**
 * Takes `<dataDir>.lock` for this process, or fails naming the process that holds it. The lock
 * appears with its pid already in it (written aside, then hard-linked into place), so no one
 * ever reads it empty. A lock left by a process that is gone (killed) is taken over by
 * renaming it away first, so two starters cannot both take over the same stale lock; one whose
 * holder is still exiting is waited for, up to LOCK_WAIT_MS.
 */
async function lockDataDir(dataDir: string): Promise<() => void> {
  const path = `${dataDir}.lock`;
  mkdirSync(dirname(path), { recursive: true });
  const mine = `${path}.${process.pid}`;
  writeFileSync(mine, String(process.pid));
  try {
    const deadline = Date.now() + LOCK_WAIT_MS;
    for (;;) {
      try {
        linkSync(mine, path);
        return () => rmSync(path, { force: true });
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const holder = readHolder(path);
      if (holder === null) continue; // released meanwhile: try again
      if (holder !== 0 && holder !== process.pid && isAlive(holder)) {
        if (Date.now() > deadline) {
          throw new Error(`the data folder ${dataDir} is in use by process ${holder} (${path}); stop it first, or set another folder`);
        }
        await new Promise((resolve) => setTimeout(resolve, 100));
        continue;
      }
      // Left by a process that died: move it away, and only if it is still that one's.
      const stale = `${path}.stale.${process.pid}`;
      try {
        renameSync(path, stale);
      } catch {
        continue; // someone else moved it first
      }
      if (readHolder(stale) !== holder) renameSync(stale, path); // not the stale lock: put it back
      rmSync(stale, { force: true });
    }
  } finally {
    rmSync(mine, { force: true });
  }
}

/** The pid in a lock file, or null when it is gone. */
function readHolder(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : 0;
  } catch {
    return null;
  }
}

/** Whether `pid` is a live process: not gone, and not a zombie waiting to be reaped. */
function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc (not Linux): trust the signal check
  }
}
