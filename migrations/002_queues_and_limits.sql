-- Per-queue settings that hold across every worker process.
CREATE TABLE queues (
  name         text PRIMARY KEY,
  paused       boolean NOT NULL DEFAULT false,
  -- Most tasks of this queue running at once, cluster-wide (NULL = no limit).
  concurrency  integer CHECK (concurrency > 0),
  -- Cluster-wide start rate: at most rate_limit tasks per rate_per seconds.
  rate_limit   integer CHECK (rate_limit > 0),
  rate_per     double precision CHECK (rate_per > 0),
  updated_at   timestamptz NOT NULL DEFAULT now()
);

-- Sliding-window rate limiters: the times of the most recent grants per key.
CREATE TABLE rate_limits (
  key         text PRIMARY KEY,
  grants      timestamptz[] NOT NULL DEFAULT '{}',
  updated_at  timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 50);
