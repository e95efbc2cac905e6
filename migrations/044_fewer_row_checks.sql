-- Postgres builds and runs every CHECK constraint of a table for every row an
-- INSERT or UPDATE writes, and prepares their expressions again for every
-- statement: with fourteen of them, a one-row enqueue spent about half of its
-- execution time on them (docs/decisions/0010-value-checks-at-the-edges.md).
-- The values these guard are validated where they enter (zod in the library, the
-- SQL enqueue() function) or computed only by pgcourier's own statements. Kept:
-- the status, the priority (the claim order) and the dependency counters (the
-- exactly-once release of dependents).
ALTER TABLE tasks
  DROP CONSTRAINT IF EXISTS tasks_attempts_check,
  DROP CONSTRAINT IF EXISTS tasks_max_retries_check,
  DROP CONSTRAINT IF EXISTS tasks_deferrals_check,
  DROP CONSTRAINT IF EXISTS tasks_retry_delay_check,
  DROP CONSTRAINT IF EXISTS tasks_timeout_check,
  DROP CONSTRAINT IF EXISTS tasks_backoff_check,
  DROP CONSTRAINT IF EXISTS tasks_max_delay_check,
  DROP CONSTRAINT IF EXISTS tasks_batch_callback_check,
  DROP CONSTRAINT IF EXISTS tasks_window_check,
  DROP CONSTRAINT IF EXISTS tasks_flow_check;
