-- Messaging II: suppressions scoped to a sender, linked follow-up messages,
-- idempotency keys, typed media, inbound messages and customer-service windows.
-- Runs with search_path set to the courier's schema.

-- A suppression applies to every sender ('') or to one sender only (a STOP sent
-- to one number, Twilio 21610, a recipient who blocked one business number).
ALTER TABLE suppressions ADD COLUMN sender text NOT NULL DEFAULT '';
ALTER TABLE suppressions DROP CONSTRAINT suppressions_pkey;
ALTER TABLE suppressions ADD PRIMARY KEY (channel, recipient, sender);

-- Why a message follows its parent: a template after a closed window, a retry
-- after a transient delivery failure, another provider or another channel.
ALTER TABLE messages ADD COLUMN relation text
  CHECK (relation IN ('window_fallback', 'webhook_retry', 'failover', 'channel_fallback', 'resend'));
CREATE INDEX messages_parent_idx ON messages (parent_id) WHERE parent_id IS NOT NULL;

-- A caller's key: the same key sends once (send() returns the first message's id).
ALTER TABLE messages ADD COLUMN idempotency_key text;
CREATE UNIQUE INDEX messages_idempotency_idx ON messages (idempotency_key) WHERE idempotency_key IS NOT NULL;

-- Media with their content types and file names ({ url, contentType, filename }).
ALTER TABLE messages ADD COLUMN media_items jsonb;

-- Inbound messages from customers (opt-out keywords, HELP, replies).
CREATE TABLE inbound_messages (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  channel              text NOT NULL,
  provider             text NOT NULL,
  provider_message_id  text NOT NULL,
  -- The customer.
  recipient            text NOT NULL,
  -- Our number or sender id the customer wrote to.
  sender               text NOT NULL,
  body                 text,
  -- 'stop', 'start', 'help' or NULL.
  keyword              text,
  received_at          timestamptz NOT NULL DEFAULT now(),
  UNIQUE (provider, provider_message_id)
);
CREATE INDEX inbound_messages_recipient_idx ON inbound_messages (channel, recipient, received_at DESC);
