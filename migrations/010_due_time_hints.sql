-- Wake-ups for delayed tasks: besides one NOTIFY per statement and queue with due
-- rows (payload: the queue name), a statement that inserts delayed rows sends one
-- per queue with the earliest run_at as epoch milliseconds ('<queue> <ms>'), so
-- workers claim them on time without polling often. Queue names have no spaces.
CREATE OR REPLACE FUNCTION notify_tasks_inserted() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify(TG_TABLE_SCHEMA || '.tasks', w.payload)
  FROM (
    SELECT queue AS payload FROM inserted WHERE run_at <= now() GROUP BY queue
    UNION ALL
    SELECT queue || ' ' || floor(extract(epoch FROM min(run_at)) * 1000)::bigint
      FROM inserted WHERE run_at > now() GROUP BY queue
  ) AS w;
  RETURN NULL;
END;
$$;
