import { sql, type Kysely } from 'kysely';

/**
 * Every object of SPEC §2. Channel names are spelled out here rather than imported from
 * @herald/core: a migration is a snapshot, and must not change when the code moves on.
 */
const CHANNELS = sql.raw(`('WhatsAppChannel','SMSChannel','RCSChannel','TelegramChannel','FacebookChannel','WebChannel','CustomChannel')`);

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    CREATE TABLE bots (
      id               uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      name             text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      api_token_sha256 bytea NOT NULL CONSTRAINT bots_api_token_key UNIQUE,
      created_at       timestamptz NOT NULL DEFAULT now(),
      updated_at       timestamptz NOT NULL DEFAULT now()
    )`.execute(db);

  await sql`
    CREATE TABLE channel_connections (
      id                    uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      bot_id                uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
      channel               text NOT NULL CHECK (channel IN ${CHANNELS}),
      provider              text NOT NULL CHECK (length(provider) BETWEEN 1 AND 64),
      credentials           jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(credentials) = 'object'),
      base_url              text,
      rate_limit_per_second double precision CHECK (rate_limit_per_second > 0),
      created_at            timestamptz NOT NULL DEFAULT now(),
      updated_at            timestamptz NOT NULL DEFAULT now(),
      -- One connection per channel and bot: PUT /v1/bots/:id/channels/:channel upserts it.
      CONSTRAINT channel_connections_bot_channel_key UNIQUE (bot_id, channel)
    )`.execute(db);

  await sql`
    CREATE TABLE contacts (
      id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      bot_id            uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
      bot_channel       text NOT NULL CHECK (bot_channel IN ${CHANNELS}),
      user_id           text NOT NULL CHECK (length(user_id) BETWEEN 1 AND 256),
      user_phone_number text,
      first_name        text,
      last_name         text,
      user_name         text,
      locale            text,
      variables         jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(variables) = 'object'),
      first_seen_at     timestamptz NOT NULL DEFAULT now(),
      last_seen_at      timestamptz NOT NULL DEFAULT now(),
      created_at        timestamptz NOT NULL DEFAULT now(),
      updated_at        timestamptz NOT NULL DEFAULT now(),
      -- A contact (Xenioo: a conversation) is unique per bot, channel and user id; every
      -- upsert (targets, set_conversation, imports) conflicts on this key.
      CONSTRAINT contacts_bot_channel_user_key UNIQUE (bot_id, bot_channel, user_id)
    )`.execute(db);
  // set_conversation looks a contact up by user id, else by phone, across the bot's channels.
  await sql`CREATE INDEX contacts_bot_user_id_idx ON contacts (bot_id, user_id)`.execute(db);
  await sql`
    CREATE INDEX contacts_bot_phone_idx ON contacts (bot_id, user_phone_number)
    WHERE user_phone_number IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE broadcasts (
      id                   uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      bot_id               uuid NOT NULL REFERENCES bots (id) ON DELETE CASCADE,
      name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
      enabled              boolean NOT NULL DEFAULT true,
      audience             jsonb NOT NULL DEFAULT '{"filters":[],"join":[]}',
      message              jsonb NOT NULL,
      allowed_hosts        text[] NOT NULL DEFAULT '{}',
      allow_get            boolean NOT NULL DEFAULT true,
      allow_post           boolean NOT NULL DEFAULT true,
      direct_mode          boolean NOT NULL DEFAULT true,
      require_valid_filter boolean NOT NULL DEFAULT true,
      delay_ms             integer NOT NULL DEFAULT 10000 CHECK (delay_ms BETWEEN 0 AND 86400000),
      max_delay_ms         integer CHECK (max_delay_ms BETWEEN 0 AND 86400000),
      hook_token           text NOT NULL,
      hook_token_sha256    bytea NOT NULL CONSTRAINT broadcasts_hook_token_key UNIQUE,
      hook_rotated_at      timestamptz,
      created_at           timestamptz NOT NULL DEFAULT now(),
      updated_at           timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX broadcasts_bot_idx ON broadcasts (bot_id)`.execute(db);

  await sql`
    CREATE TABLE runs (
      id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      broadcast_id  uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
      status        text NOT NULL DEFAULT 'dispatching'
                    CHECK (status IN ('dispatching','delivering','completed','cancelled','failed')),
      targeted      integer NOT NULL DEFAULT 0 CHECK (targeted >= 0),
      sent          integer NOT NULL DEFAULT 0 CHECK (sent >= 0),
      failed        integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
      skipped       integer NOT NULL DEFAULT 0 CHECK (skipped >= 0),
      error         text,
      created_at    timestamptz NOT NULL DEFAULT now(),
      delivering_at timestamptz,
      finished_at   timestamptz,
      updated_at    timestamptz NOT NULL DEFAULT now()
    )`.execute(db);
  await sql`CREATE INDEX runs_broadcast_created_idx ON runs (broadcast_id, created_at DESC)`.execute(db);
  // The reconciler looks for runs stuck in a non-final state; final runs are the vast majority.
  await sql`
    CREATE INDEX runs_active_idx ON runs (updated_at)
    WHERE status IN ('dispatching', 'delivering')`.execute(db);

  await sql`
    CREATE TABLE triggers (
      id                uuid PRIMARY KEY DEFAULT gen_random_uuid(),
      seq               bigint GENERATED ALWAYS AS IDENTITY CONSTRAINT triggers_seq_key UNIQUE,
      broadcast_id      uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
      received_at       timestamptz NOT NULL DEFAULT now(),
      caller_address    inet,
      method            text NOT NULL CHECK (method IN ('GET', 'POST')),
      request           jsonb NOT NULL,
      status            text NOT NULL DEFAULT 'pending'
                        CHECK (status IN ('pending','dispatched','cancelled','failed')),
      run_id            uuid REFERENCES runs (id) ON DELETE SET NULL,
      notes             jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(notes) = 'array'),
      status_changed_at timestamptz
    )`.execute(db);
  await sql`CREATE INDEX triggers_broadcast_seq_idx ON triggers (broadcast_id, seq DESC)`.execute(db);
  // Claiming a broadcast's pending triggers and re-arming lost timers both read only these.
  await sql`CREATE INDEX triggers_pending_idx ON triggers (broadcast_id, seq) WHERE status = 'pending'`.execute(db);
  await sql`CREATE INDEX triggers_run_idx ON triggers (run_id) WHERE run_id IS NOT NULL`.execute(db);

  await sql`
    CREATE TABLE idempotency_keys (
      broadcast_id uuid NOT NULL REFERENCES broadcasts (id) ON DELETE CASCADE,
      key          text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
      trigger_id   uuid NOT NULL REFERENCES triggers (id) ON DELETE CASCADE,
      response     jsonb NOT NULL,
      created_at   timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (broadcast_id, key)
    )`.execute(db);
  await sql`CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at)`.execute(db);

  await sql`
    CREATE TABLE deliveries (
      id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      run_id              uuid NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
      contact_id          bigint NOT NULL REFERENCES contacts (id) ON DELETE CASCADE,
      channel             text NOT NULL CHECK (channel IN ${CHANNELS}),
      text                text,
      status              text NOT NULL DEFAULT 'queued' CHECK (status IN ('queued','sent','failed','skipped')),
      attempts            integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
      provider_message_id text,
      last_error          text,
      created_at          timestamptz NOT NULL DEFAULT now(),
      updated_at          timestamptz NOT NULL DEFAULT now(),
      sent_at             timestamptz,
      -- At most one delivery per (run, contact). This key is what makes a re-dispatch after a
      -- crash, or two triggers targeting the same contact, safe: INSERT … ON CONFLICT DO NOTHING.
      CONSTRAINT deliveries_run_contact_key UNIQUE (run_id, contact_id)
    )`.execute(db);
  // Keyset pagination over a run's deliveries, and chunked enqueueing, walk this index.
  await sql`CREATE INDEX deliveries_run_id_idx ON deliveries (run_id, id)`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['deliveries', 'idempotency_keys', 'triggers', 'runs', 'broadcasts', 'contacts', 'channel_connections', 'bots']) {
    await sql`DROP TABLE ${sql.table(table)}`.execute(db);
  }
}
