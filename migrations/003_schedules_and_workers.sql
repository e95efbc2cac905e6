-- Cron schedules: each tick enqueues its task once, whichever worker gets there.
CREATE TABLE schedules (
  name         text PRIMARY KEY,
  cron         text NOT NULL,
  timezone     text NOT NULL DEFAULT 'UTC',
  task         text NOT NULL,
  payload      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- Enqueue options: queue, priority, maxRetries, retryDelay, timeout.
  options      jsonb NOT NULL DEFAULT '{}'::jsonb,
  -- How many missed ticks to enqueue after downtime (0 = skip them).
  backfill     integer NOT NULL DEFAULT 0 CHECK (backfill BETWEEN 0 AND 1000),
  paused       boolean NOT NULL DEFAULT false,
  next_run_at  timestamptz NOT NULL,
  last_run_at  timestamptz,
  created_at   timestamptz NOT NULL DEFAULT now(),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- One row per (schedule, tick): the primary key makes a racing second insert a no-op.
CREATE TABLE schedule_runs (
  schedule    text NOT NULL,
  tick        timestamptz NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (schedule, tick)
);

-- Live and recently dead worker processes.
CREATE TABLE workers (
  id                  text PRIMARY KEY,
  host                text NOT NULL,
  pid                 integer NOT NULL,
  queues              text[],
  concurrency         integer NOT NULL,
  version             text NOT NULL,
  heartbeat_interval  double precision NOT NULL,
  running             integer NOT NULL DEFAULT 0,
  started_at          timestamptz NOT NULL DEFAULT now(),
  last_heartbeat      timestamptz NOT NULL DEFAULT now(),
  stopped_at          timestamptz
) WITH (fillfactor = 50);
