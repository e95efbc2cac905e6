-- The task table: one row per task, hot rows (queued/running) served by partial
-- indexes so finished rows never enter the claim path.
CREATE TABLE tasks (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue         text NOT NULL DEFAULT 'default',
  name          text NOT NULL,
  payload       jsonb NOT NULL DEFAULT '{}'::jsonb,
  priority      smallint NOT NULL DEFAULT 5 CHECK (priority BETWEEN 1 AND 10),
  status        text NOT NULL DEFAULT 'queued'
                CHECK (status IN ('queued', 'running', 'succeeded', 'failed', 'cancelled')),
  attempts      integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
  max_retries   integer NOT NULL DEFAULT 3 CHECK (max_retries >= 0),
  -- Runs that do not count against max_retries (retryAfter deferrals, shutdown releases).
  deferrals     integer NOT NULL DEFAULT 0 CHECK (deferrals >= 0),
  retry_delay   double precision NOT NULL DEFAULT 60 CHECK (retry_delay >= 0),
  timeout       double precision CHECK (timeout > 0),
  run_at        timestamptz NOT NULL DEFAULT now(),
  key           text,
  lease_token   uuid,
  locked_by     text,
  locked_until  timestamptz,
  result        jsonb,
  progress      jsonb,
  last_error    text,
  errors        jsonb NOT NULL DEFAULT '[]'::jsonb,
  created_at    timestamptz NOT NULL DEFAULT now(),
  started_at    timestamptz,
  finished_at   timestamptz,
  updated_at    timestamptz NOT NULL DEFAULT now()
) WITH (
  fillfactor = 80,
  autovacuum_vacuum_scale_factor = 0.01,
  autovacuum_analyze_scale_factor = 0.02,
  autovacuum_vacuum_cost_delay = 0
);

-- The claim query's exact order; only runnable rows are in it.
CREATE INDEX tasks_claim_idx ON tasks (priority, run_at, id) WHERE status = 'queued';

-- Running rows only (few): crash rescue scans them for expired leases, and a
-- queue's cluster-wide cap counts them per queue. One index serves both, so a
-- claim writes one index entry fewer.
CREATE INDEX tasks_running_idx ON tasks (queue, locked_until) WHERE status = 'running';

-- Dedup: one live task per (name, key).
CREATE UNIQUE INDEX tasks_key_idx ON tasks (name, key)
  WHERE key IS NOT NULL AND status IN ('queued', 'running');

-- Cleanup and history reads walk finished rows by age.
CREATE INDEX tasks_finished_idx ON tasks (finished_at)
  WHERE status IN ('succeeded', 'failed', 'cancelled');

-- One NOTIFY per enqueue statement and queue; the payload is the queue name only.
CREATE FUNCTION notify_tasks_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_TABLE_SCHEMA || '.tasks', q.queue)
  FROM (SELECT DISTINCT queue FROM inserted WHERE run_at <= now()) AS q;
  RETURN NULL;
END;
$$;

CREATE TRIGGER tasks_inserted_notify
AFTER INSERT ON tasks
REFERENCING NEW TABLE AS inserted
FOR EACH STATEMENT EXECUTE FUNCTION notify_tasks_inserted();
