-- The operator's task list at scale (1,000,000 finished rows and more). Both
-- indexes are partial on rows plain tasks never enter: a plain task (no key,
-- no error, no parents) writes no entry in either, at enqueue, claim or finish.

-- Waiting rows (tasks with parents) only. With the claim, group, sequence and
-- running indexes it lets the list reach every live row without a table scan.
CREATE INDEX tasks_waiting_idx ON tasks (id) WHERE status = 'waiting';

-- Substring search (ILIKE '%…%') over the key and last error of finished tasks,
-- through pg_trgm where the server has it: an existing installation is used
-- wherever it is; else it is created in `public`, else in this schema. Where it
-- cannot be had (not installed, no privilege), search still works by scanning.
DO $$
DECLARE
  ext_schema text;
  target text;
BEGIN
  FOREACH target IN ARRAY ARRAY['public', current_schema()] LOOP
    SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
    EXIT WHEN ext_schema IS NOT NULL;
    BEGIN
      EXECUTE format('CREATE EXTENSION pg_trgm SCHEMA %I', target);
    EXCEPTION WHEN OTHERS THEN
      -- No such schema, no privilege, not installed, or created meanwhile by a concurrent migration (re-read above).
      NULL;
    END;
  END LOOP;
  SELECT n.nspname INTO ext_schema FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace WHERE e.extname = 'pg_trgm';
  IF ext_schema IS NULL THEN
    RAISE NOTICE 'pgcourier: pg_trgm is not available; task search scans instead of using an index';
    RETURN;
  END IF;
  EXECUTE format(
    'CREATE INDEX tasks_search_idx ON tasks USING gin (key %1$I.gin_trgm_ops, last_error %1$I.gin_trgm_ops)
      WHERE status IN (''succeeded'', ''failed'', ''cancelled'') AND (key IS NOT NULL OR last_error IS NOT NULL)',
    ext_schema);
END
$$;
