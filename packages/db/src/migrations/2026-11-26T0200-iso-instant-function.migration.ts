import { sql, type Kysely } from 'kysely';

/**
 * herald_iso_instant(text): the instant an ISO-8601 date denotes, or NULL when the text is not
 * one — never an error, so an audience filter can try it on any variable of a million contacts
 * (a bare ::timestamptz cast would abort the whole query on the first "2024-02-30").
 * Same grammar as `isoInstant` in @herald/core: YYYY-MM-DD[THH:MM[:SS[.fff]][Z|±HH:MM]],
 * UTC when no offset. Plain SQL, no exception block: cheap per row.
 */
export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE FUNCTION herald_iso_instant(s text) RETURNS timestamptz
    LANGUAGE sql IMMUTABLE PARALLEL SAFE STRICT AS $fn$
      SELECT CASE
        WHEN m IS NULL OR m[1]::int < 1 THEN NULL
        WHEN m[3]::int > extract(day FROM make_date(m[1]::int, m[2]::int, 1) + interval '1 month - 1 day')::int THEN NULL
        ELSE (make_timestamp(m[1]::int, m[2]::int, m[3]::int,
                             coalesce(m[4], '0')::int, coalesce(m[5], '0')::int,
                             coalesce(m[6], '0')::float8 + coalesce(('0.' || m[7])::float8, 0))
              AT TIME ZONE 'UTC')
             - CASE WHEN m[9] IS NULL THEN interval '0'
                    ELSE (CASE m[9] WHEN '-' THEN -1 ELSE 1 END)
                         * (m[10]::int * interval '1 hour' + m[11]::int * interval '1 minute') END
      END
      FROM regexp_match(s, '^([0-9]{4})-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])(?:T([01][0-9]|2[0-3]):([0-5][0-9])(?::([0-5][0-9])(?:\\.([0-9]{1,3}))?)?(Z|([+-])(0[0-9]|1[0-4]):([0-5][0-9]))?)?$') AS m
    $fn$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`DROP FUNCTION herald_iso_instant(text)`.execute(db);
}
