import { sql, type Kysely } from 'kysely';

/**
 * Hook tokens are kept only as their SHA-256 (issue 13): the plain `hook_token` column goes, so
 * a copy of the database (a backup, a read replica, a support dump) launches no broadcast. The
 * hook URL is shown once, in the answers of create and rotate-hook. Existing hooks keep working:
 * the ingress has always looked tokens up by `hook_token_sha256`.
 *
 * `hook_token_hint` keeps the token's last 4 characters (24 of its 256 bits), so a person can
 * tell which URL is the current one (`hook_url_hint` in the API). The CHECK keeps it a hint.
 *
 * Down adds the column back, but the tokens are gone: it is filled with '' and the previous
 * version shows these broadcasts' `hook_url` without a token until each is rotated. Their hooks
 * keep working all the same. Up again after that gives them an empty hint (hence `<= 4`).
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`ALTER TABLE broadcasts ADD COLUMN hook_token_hint text`.execute(db);
  await sql`UPDATE broadcasts SET hook_token_hint = right(hook_token, 4)`.execute(db);
  await sql`
    ALTER TABLE broadcasts
      ALTER COLUMN hook_token_hint SET NOT NULL,
      ADD CONSTRAINT broadcasts_hook_token_hint_check CHECK (length(hook_token_hint) <= 4),
      DROP COLUMN hook_token`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    ALTER TABLE broadcasts
      ADD COLUMN hook_token text NOT NULL DEFAULT '',
      DROP COLUMN hook_token_hint`.execute(db);
  await sql`ALTER TABLE broadcasts ALTER COLUMN hook_token DROP DEFAULT`.execute(db);
}
