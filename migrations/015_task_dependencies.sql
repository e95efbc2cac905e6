-- Task dependencies, workflows and batches. A task given parents waits (status
-- 'waiting', never claimed: the claim index holds queued rows only) until every
-- parent has finished; the statement that finishes the last parent makes it
-- queued, in the same transaction, through the trigger below.
ALTER TABLE tasks DROP CONSTRAINT tasks_status_check;
ALTER TABLE tasks ADD CONSTRAINT tasks_status_check
  CHECK (status IN ('waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'));

-- A graph of tasks enqueued together: a workflow (named steps and edges) or a
-- batch (members and the callbacks that run when the last member finishes).
CREATE TABLE workflows (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  kind        text NOT NULL CHECK (kind IN ('workflow', 'batch')),
  name        text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

ALTER TABLE tasks
  -- Parents of this task (NULL: none), and the policy of each edge when that parent
  -- fails or is cancelled: 'fail' (NULL, the default), 'run' (run anyway) or 'skip'.
  ADD COLUMN depends_on bigint[],
  ADD COLUMN parent_policies text[],
  -- Parents that have not finished yet; 0 once released.
  ADD COLUMN pending_parents integer NOT NULL DEFAULT 0 CHECK (pending_parents >= 0),
  -- Parents that failed or were cancelled on a 'run' edge.
  ADD COLUMN failed_parents integer NOT NULL DEFAULT 0 CHECK (failed_parents >= 0),
  -- Waiting tasks to tell when this one finishes (NULL: none, the plain case, which
  -- the trigger's WHEN skips). A finished task only leaves its final state through
  -- a retry by hand, which empties it, so no dependent counts a parent twice.
  ADD COLUMN dependents bigint[],
  -- The workflow or batch of this task and its step name there.
  ADD COLUMN workflow_id bigint,
  ADD COLUMN step text,
  -- A batch's callback: 'complete' runs after every member, 'success' only if all
  -- succeeded, 'failure' only if some failed or were cancelled. On release its
  -- payload gets the batch's counts and member ids.
  ADD COLUMN batch_callback text CHECK (batch_callback IN ('complete', 'success', 'failure'));

CREATE INDEX tasks_workflow_idx ON tasks (workflow_id) WHERE workflow_id IS NOT NULL;

-- What a waiting dependent becomes when one of its parents finishes as
-- `parent_status` over an edge with `policy`, given the dependent's `pending`
-- parents (this one included), `failed` parents so far and batch `callback` kind.
CREATE FUNCTION dependent_next(parent_status text, policy text, pending integer, failed integer, callback text) RETURNS text
LANGUAGE sql IMMUTABLE AS $$
  SELECT CASE
    WHEN parent_status = 'failed' AND coalesce(policy, 'fail') = 'fail' THEN 'failed'
    WHEN parent_status <> 'succeeded' AND coalesce(policy, 'fail') <> 'run' THEN 'cancelled'
    WHEN pending > 1 THEN 'waiting'
    WHEN callback = 'failure' AND failed = 0 AND parent_status = 'succeeded' THEN 'cancelled'
    ELSE 'queued'
  END
$$;

-- A batch's counts and member ids, merged into a callback's payload on release.
CREATE FUNCTION batch_summary(batch bigint) RETURNS jsonb
LANGUAGE sql STABLE SET search_path FROM CURRENT AS $$
  SELECT jsonb_build_object(
    'batchId', batch::text,
    'total', count(*),
    'succeeded', count(*) FILTER (WHERE status = 'succeeded'),
    'failed', count(*) FILTER (WHERE status = 'failed'),
    'cancelled', count(*) FILTER (WHERE status = 'cancelled'),
    'memberIds', coalesce(jsonb_agg(id::text ORDER BY id), '[]'::jsonb))
  FROM tasks WHERE workflow_id = batch AND batch_callback IS NULL
$$;

-- When a task with dependents finishes, each waiting dependent counts it off:
-- - the parent succeeded, or the edge is 'run': one parent fewer; at none left the
--   dependent becomes queued (and its queue is woken), except a batch's 'failure'
--   callback with no failed member, which is cancelled (skipped);
-- - it failed on a 'fail' edge: the dependent fails;
-- - it failed on a 'skip' edge, or was cancelled on any edge but 'run': the
--   dependent is cancelled.
-- Dependents failed or cancelled this way tell their own dependents in turn, in a
-- loop here rather than by firing this trigger again (a recursion one level per
-- generation would exhaust the stack on long chains): while the loop runs, the
-- setting pgcourier.cascading keeps the trigger from firing for its own updates.
-- Every decision reads the dependent's row as updated, never an earlier snapshot:
-- two parents finishing at once in two transactions update the same dependent row;
-- the second waits for the first's row lock and then counts from the row the first
-- committed, so the dependent is released exactly once.
CREATE FUNCTION tasks_release_dependents() RETURNS trigger
LANGUAGE plpgsql SET search_path FROM CURRENT AS $$
DECLARE
  todo_ids bigint[] := ARRAY[NEW.id];
  todo_status text[] := ARRAY[NEW.status];
  i integer := 1;
  p_id bigint;
  p_status text;
  p_dependents bigint[];
  told bigint;
  callbacks bigint[];
  next_ids bigint[];
  next_status text[];
BEGIN
  PERFORM set_config('pgcourier.cascading', 'on', true);
  WHILE i <= cardinality(todo_ids) LOOP
    p_id := todo_ids[i];
    p_status := todo_status[i];
    IF i = 1 THEN
      p_dependents := NEW.dependents;
    ELSE
      SELECT dependents INTO p_dependents FROM tasks WHERE id = p_id;
    END IF;
    i := i + 1;
    CONTINUE WHEN p_dependents IS NULL;
    WITH changed AS (
      UPDATE tasks AS c
         SET status = dependent_next(p_status, c.parent_policies[array_position(c.depends_on, p_id)], c.pending_parents, c.failed_parents, c.batch_callback),
             pending_parents = c.pending_parents - 1,
             failed_parents = c.failed_parents + CASE WHEN p_status = 'succeeded' THEN 0 ELSE 1 END,
             run_at = CASE WHEN dependent_next(p_status, c.parent_policies[array_position(c.depends_on, p_id)], c.pending_parents, c.failed_parents, c.batch_callback)
                                = 'queued' THEN greatest(c.run_at, now()) ELSE c.run_at END,
             finished_at = CASE WHEN dependent_next(p_status, c.parent_policies[array_position(c.depends_on, p_id)], c.pending_parents, c.failed_parents, c.batch_callback)
                                     IN ('failed', 'cancelled') THEN now() END,
             last_error = CASE dependent_next(p_status, c.parent_policies[array_position(c.depends_on, p_id)], c.pending_parents, c.failed_parents, c.batch_callback)
               WHEN 'failed' THEN 'parent task ' || p_id || ' failed'
               WHEN 'cancelled' THEN CASE WHEN p_status = 'succeeded' THEN 'skipped: no member of batch ' || c.workflow_id || ' failed'
                                          ELSE 'skipped: parent task ' || p_id || ' ' || p_status END
               ELSE c.last_error END,
             updated_at = now()
       WHERE c.id = ANY (p_dependents) AND c.status = 'waiting'
      RETURNING c.id, c.queue, c.status, c.attempts, c.batch_callback, c.dependents
    ), woken AS (
      SELECT pg_notify(TG_TABLE_SCHEMA || '.tasks', queue) FROM changed WHERE status = 'queued' GROUP BY queue
    ), announced AS (
      SELECT pg_notify(TG_TABLE_SCHEMA || '.events', status || ' ' || string_agg(id || '.' || attempts, ',') || ' ')
        FROM (SELECT id, status, attempts, (row_number() OVER () - 1) / 250 AS chunk
                FROM changed WHERE status IN ('failed', 'cancelled')) AS a
       GROUP BY status, chunk
    )
    SELECT (SELECT count(*) FROM woken) + (SELECT count(*) FROM announced),
           (SELECT array_agg(id) FROM changed WHERE status = 'queued' AND batch_callback IS NOT NULL),
           (SELECT array_agg(id ORDER BY id) FROM changed WHERE status IN ('failed', 'cancelled') AND dependents IS NOT NULL),
           (SELECT array_agg(status ORDER BY id) FROM changed WHERE status IN ('failed', 'cancelled') AND dependents IS NOT NULL)
      INTO told, callbacks, next_ids, next_status;
    IF callbacks IS NOT NULL THEN
      UPDATE tasks SET payload = payload || batch_summary(workflow_id) WHERE id = ANY (callbacks);
    END IF;
    IF next_ids IS NOT NULL THEN
      todo_ids := todo_ids || next_ids;
      todo_status := todo_status || next_status;
    END IF;
  END LOOP;
  PERFORM set_config('pgcourier.cascading', 'off', true);
  RETURN NULL;
END;
$$;

-- Fires only for a status change of a row with dependents: plain tasks pay the
-- WHEN test's first term and nothing else. Not for the trigger's own cascade.
CREATE TRIGGER tasks_release_dependents
AFTER UPDATE OF status ON tasks
FOR EACH ROW
WHEN (NEW.dependents IS NOT NULL AND NEW.status IN ('succeeded', 'failed', 'cancelled') AND OLD.status <> NEW.status
      AND current_setting('pgcourier.cascading', true) IS DISTINCT FROM 'on')
EXECUTE FUNCTION tasks_release_dependents();
