-- The plain claim (due tasks of every served queue without a cluster-wide cap,
-- outside groups and sequences) as a function, for the planner settings its
-- SET clauses give its statement alone, restored when it returns (nothing reaches
-- the session, which a transaction-mode pooler shares with other clients):
--   * one generic plan per session (plan_cache_mode): planning the claim for
--     every call was about half of its cost (10-task claims 1.2-1.5 ms planned
--     per call, 0.5-0.8 ms with the cached plan, on 20,000 and 1,000,000 rows);
--   * sorts and sequential scans off: the claim's one right plan is an ordered
--     walk of the claim index, locking rows until the batch is full, and with
--     both off it is the plan Postgres makes whatever it knows of the table (a
--     generic plan made with the defaults on an analysed table sorted every
--     queued row);
--   * JIT off: before Postgres 18 a disabled node adds a huge constant to the
--     plan's cost, past jit_above_cost, and every claim was JIT-compiled.
-- The rows come back in claim order. Same lease and attempt rules as every claim:
-- one token per statement, attempts counted, retries_left = 1 + max_retries -
-- (attempts - deferrals).
CREATE FUNCTION claim_tasks(
  p_worker text, p_names text[], p_queues text[], p_limit integer, p_lease double precision,
  p_exclude text[], p_token uuid)
RETURNS TABLE (id bigint, name text, queue text, payload jsonb, attempt integer, retries_left integer,
               retry_delay double precision, timeout double precision, backoff text,
               max_delay double precision)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
SET plan_cache_mode = force_generic_plan
SET enable_sort = off
SET enable_seqscan = off
SET jit = off
AS $$
#variable_conflict use_column
BEGIN
  RETURN QUERY
  WITH picked AS (
    SELECT c.id FROM tasks AS c
     WHERE c.status = 'queued' AND c.run_at <= now()
       AND c.group_key IS NULL AND c.sequence_key IS NULL
       AND c.name = ANY (p_names)
       AND (p_queues IS NULL OR c.queue = ANY (p_queues))
       AND c.queue <> ALL (p_exclude)
       AND c.queue NOT IN (SELECT q.name FROM queues AS q WHERE q.paused)
     ORDER BY c.priority, c.run_at, c.id
     LIMIT p_limit
     FOR UPDATE SKIP LOCKED
  ), claimed AS (
    UPDATE tasks AS t
       SET status = 'running', attempts = t.attempts + 1, lease_token = p_token,
           locked_by = p_worker, locked_until = now() + make_interval(secs => p_lease),
           started_at = now(), updated_at = now()
     WHERE t.id = ANY (ARRAY(SELECT picked.id FROM picked))
    RETURNING t.id, t.name, t.queue, t.payload, t.attempts, (1 + t.max_retries - (t.attempts - t.deferrals)) AS retries_left,
              t.retry_delay, t.timeout, t.backoff, t.max_delay, t.priority, t.run_at
  )
  SELECT c.id, c.name, c.queue, c.payload, c.attempts, c.retries_left, c.retry_delay, c.timeout, c.backoff, c.max_delay
    FROM claimed AS c
   ORDER BY c.priority, c.run_at, c.id;
END;
$$;
