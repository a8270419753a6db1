import { sql, type Kysely } from 'kysely';

/**
 * A contact's variables are bounded after every merge, not only per call: at most 512 of them
 * (SPEC §2; MAX_CONTACT_VARIABLES in core) and 1 MiB as stored jsonb (MAX_CONTACT_VARIABLES_BYTES).
 * Three calls of 512 new variables once left a contact with 1,536, and 64 KiB values could
 * grow a row until jsonb's own limit made every update of it fail, wedging its broadcast. Past
 * the bound a write is refused (23514): the trigger that tried it is marked `failed` and its
 * run goes on; an import answers 400.
 *
 * NOT VALID: rows already past the bound stay as they are (and refuse any write that keeps
 * them past it); checking them would fail the upgrade instead.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION herald_variable_count(variables jsonb) RETURNS integer
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    AS $$ SELECT count(*)::integer FROM jsonb_object_keys(variables) $$`.execute(db);
  // pg_column_size is the jsonb's size as written (a CHECK sees the value before it is
  // compressed), read from its header: cheap. Counting keys is not, so it is skipped below
  // 4,096 bytes, where 513 keys cannot fit (each pair takes two 4-byte entries at least).
  await sql`
    ALTER TABLE contacts ADD CONSTRAINT contacts_variables_bounded
      CHECK (pg_column_size(variables) <= 1048576
             AND (pg_column_size(variables) < 4096 OR herald_variable_count(variables) <= 512)) NOT VALID`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE contacts DROP CONSTRAINT contacts_variables_bounded`.execute(db);
  await sql`DROP FUNCTION herald_variable_count(jsonb)`.execute(db);
}
