-- Finished tasks per minute and queue for the last 24 hours: the dashboard's
-- charts. Kept by a maintenance service from finished_at ranges (no trigger on
-- the task table), so the hot path pays nothing; rows older than a day are
-- deleted, so the table stays small (at most 1440 rows per queue).
CREATE TABLE task_history (
  minute     timestamptz NOT NULL,
  queue      text NOT NULL,
  succeeded  integer NOT NULL DEFAULT 0 CHECK (succeeded >= 0),
  failed     integer NOT NULL DEFAULT 0 CHECK (failed >= 0),
  PRIMARY KEY (minute, queue)
);

-- How far the rollup has counted: finished_at values below it are in task_history.
CREATE TABLE task_history_state (
  id            boolean PRIMARY KEY DEFAULT true CHECK (id),
  rolled_until  timestamptz NOT NULL
);
