-- Per-task backoff: the curve of the delay between attempts and its cap. NULL
-- means the task definition's setting (or exponential, capped at an hour).
ALTER TABLE tasks
  ADD COLUMN backoff text CHECK (backoff IN ('exponential', 'linear', 'fixed')),
  ADD COLUMN max_delay double precision CHECK (max_delay >= 0);
