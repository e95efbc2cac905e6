-- Messaging: outbound messages and their send ledger, bulk batches, provider
-- status events (de-duplicated), suppressions, provider gates and EmailJS
-- submissions. Runs with search_path set to the courier's schema.

-- Forward-only order of message statuses. A status may replace another only when
-- its rank is higher, so a late 'sent' webhook never overwrites 'delivered'.
-- failed/undelivered rank below delivered: Meta and Twilio can report delivery
-- after a failure (multi-device), never the other way round.
CREATE FUNCTION message_status_rank(status text) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT CASE status
    WHEN 'queued' THEN 0
    WHEN 'pending' THEN 1
    WHEN 'sending' THEN 2
    WHEN 'unknown' THEN 3
    WHEN 'sent' THEN 4
    WHEN 'failed' THEN 5
    WHEN 'undelivered' THEN 5
    WHEN 'delivered' THEN 6
    WHEN 'read' THEN 7
  END
$$;

CREATE TABLE message_batches (
  id          uuid PRIMARY KEY,
  channel     text NOT NULL,
  provider    text,
  name        text,
  -- Shared content of the batch's messages; each message keeps only its variables.
  template    jsonb NOT NULL,
  -- Variables shared by every recipient; each message holds its own on top.
  variables   jsonb,
  subject     text,
  total       integer NOT NULL CHECK (total >= 0),
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX message_batches_created_idx ON message_batches (created_at DESC, id DESC);

CREATE TABLE messages (
  id                   uuid PRIMARY KEY,
  channel              text NOT NULL CHECK (channel ~ '^[a-z][a-z0-9_]{0,31}$'),
  recipient            text NOT NULL,
  sender               text,
  subject              text,
  body                 text,
  html                 text,
  -- A text or email template, or a provider template ({name, language} / {contentSid}).
  template             jsonb,
  variables            jsonb,
  media                text[],
  -- Follow-up content used when the provider reports a closed 24-hour window.
  fallback             jsonb,
  status               text NOT NULL DEFAULT 'queued'
                       CHECK (status IN ('queued', 'pending', 'sending', 'sent', 'delivered', 'read',
                                         'failed', 'undelivered', 'unknown')),
  provider             text,
  provider_message_id  text,
  error_code           text,
  error_text           text,
  -- Send attempts opened in the ledger (message_attempts).
  attempts             integer NOT NULL DEFAULT 0,
  batch_id             uuid REFERENCES message_batches (id) ON DELETE CASCADE,
  task_id              bigint,
  parent_id            uuid REFERENCES messages (id) ON DELETE SET NULL,
  expires_at           timestamptz,
  created_at           timestamptz NOT NULL DEFAULT now(),
  updated_at           timestamptz NOT NULL DEFAULT now(),
  sent_at              timestamptz,
  delivered_at         timestamptz,
  read_at              timestamptz
) WITH (fillfactor = 85);

-- Batch progress counts by status.
CREATE INDEX messages_batch_idx ON messages (batch_id, status) WHERE batch_id IS NOT NULL;
-- Webhooks that carry only the provider's id find the message here.
CREATE INDEX messages_provider_id_idx ON messages (provider, provider_message_id) WHERE provider_message_id IS NOT NULL;
-- Status counts per channel and retention cleanup.
CREATE INDEX messages_channel_status_idx ON messages (channel, status);
CREATE INDEX messages_created_idx ON messages (created_at);

-- The send ledger: one row per request handed to a provider. A row left open
-- (finished_at NULL) by a crashed attempt means "maybe sent".
CREATE TABLE message_attempts (
  message_id           uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  n                    integer NOT NULL,
  task_id              bigint,
  task_attempt         integer,
  provider             text NOT NULL,
  started_at           timestamptz NOT NULL DEFAULT now(),
  finished_at          timestamptz,
  outcome              text CHECK (outcome IN ('ok', 'retry', 'rate_limited', 'permanent', 'permanent_recipient',
                                               'config', 'ambiguous')),
  error_code           text,
  error_text           text,
  provider_message_id  text,
  PRIMARY KEY (message_id, n)
);

CREATE INDEX message_attempts_open_idx ON message_attempts (message_id) WHERE finished_at IS NULL;

-- Provider events (status webhooks) and manual notes. (source, event_key) makes a
-- webhook delivered twice apply once.
CREATE TABLE message_events (
  id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  message_id   uuid NOT NULL REFERENCES messages (id) ON DELETE CASCADE,
  source       text NOT NULL,
  event_key    text,
  status       text,
  error_code   text,
  note         text,
  payload      jsonb,
  applied      boolean NOT NULL DEFAULT false,
  received_at  timestamptz NOT NULL DEFAULT now()
);

CREATE UNIQUE INDEX message_events_key_idx ON message_events (source, event_key) WHERE event_key IS NOT NULL;
CREATE INDEX message_events_message_idx ON message_events (message_id, id);

-- Recipients a channel must not send to again (STOP, invalid number, hard bounce).
CREATE TABLE suppressions (
  channel     text NOT NULL,
  recipient   text NOT NULL,
  reason      text NOT NULL,
  error_code  text,
  message_id  uuid,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (channel, recipient)
);

-- Provider gates shared by every worker process: a pause until a time (rate-limit
-- answers, configuration errors). The send rate itself lives in rate_limits.
CREATE TABLE provider_gates (
  key           text PRIMARY KEY,
  paused_until  timestamptz,
  -- When the current pause began: lets exactly one process report a new pause.
  paused_at     timestamptz,
  reason        text,
  updated_at    timestamptz NOT NULL DEFAULT now()
);

-- Form submissions received on the EmailJS-compatible endpoint.
CREATE TABLE submissions (
  id            uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  source        text NOT NULL DEFAULT 'emailjs',
  dedupe_key    text NOT NULL,
  service_id    text NOT NULL,
  template_id   text NOT NULL,
  user_id       text NOT NULL,
  params        jsonb NOT NULL,
  auth_mode     text NOT NULL CHECK (auth_mode IN ('browser', 'signed', 'private_key')),
  origin        text,
  remote_ip     text,
  notify_message_id  uuid,
  reply_message_id   uuid,
  received_at   timestamptz NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  UNIQUE (source, dedupe_key)
);
