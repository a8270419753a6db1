import { Migrator, NO_MIGRATIONS, type Kysely, type MigrationResultSet } from 'kysely';
import { migrations } from './migrations';

/**
 * Migrations run against whatever schema the database has at that point, not the current
 * `Database` type, so they take an untyped handle (Kysely's own convention for migrations).
 */
type AnyDb = Kysely<any>;

export interface MigrationOutcome {
  applied: string[];
  direction: 'up' | 'down' | 'none';
}

function migratorFor(db: AnyDb): Migrator {
  return new Migrator({ db, provider: { getMigrations: async () => ({ ...migrations }) } });
}

/** Turns Kysely's result set into a list of names, throwing the first error it carries. */
function unwrap({ error, results }: MigrationResultSet): MigrationOutcome {
  const failed = results?.find((r) => r.status === 'Error');
  if (error) {
    const cause = error instanceof Error ? error : new Error(String(error));
    const name = failed ? ` ${failed.migrationName}` : '';
    throw new Error(`Migration${name} failed: ${cause.message}`, { cause });
  }
  const applied = (results ?? []).filter((r) => r.status === 'Success');
  return {
    applied: applied.map((r) => r.migrationName),
    direction: applied[0]?.direction === 'Down' ? 'down' : applied.length ? 'up' : 'none',
  };
}

/** Applies every pending migration. Safe to run on every start: Kysely takes a lock. */
export async function migrateToLatest(db: AnyDb): Promise<MigrationOutcome> {
  return unwrap(await migratorFor(db).migrateToLatest());
}

/** Reverts the most recent migration. */
export async function migrateDown(db: AnyDb): Promise<MigrationOutcome> {
  return unwrap(await migratorFor(db).migrateDown());
}

/** Reverts every migration: an empty schema (except Kysely's own bookkeeping tables). */
export async function migrateToEmpty(db: AnyDb): Promise<MigrationOutcome> {
  return unwrap(await migratorFor(db).migrateTo(NO_MIGRATIONS));
}

export interface MigrationState {
  name: string;
  executedAt: Date | undefined;
}

export async function migrationStatus(db: AnyDb): Promise<MigrationState[]> {
  const all = await migratorFor(db).getMigrations();
  return all.map((m) => ({ name: m.name, executedAt: m.executedAt }));
}
