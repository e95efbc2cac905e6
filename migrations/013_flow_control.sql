-- Flow control: groups (per-group caps and fair claiming), sequences (FIFO per
-- key), debounce and uniqueness over a time window. Plain tasks (no group, no
-- sequence) keep the plain claim; the others are claimed by claim_flow_tasks().
ALTER TABLE tasks
  ADD COLUMN group_key     text,
  ADD COLUMN group_tier    text,
  ADD COLUMN sequence_key  text,
  ADD COLUMN debounce_key  text,
  ADD COLUMN window_key    text,
  ADD COLUMN window_start  timestamptz,
  ADD CONSTRAINT tasks_window_check CHECK ((window_key IS NULL) = (window_start IS NULL)),
  ADD CONSTRAINT tasks_flow_check CHECK (group_key IS NULL OR sequence_key IS NULL);

-- The plain claim index leaves grouped and sequenced rows out: the plain claim
-- never starts them (their caps and order are the flow claim's business), and
-- a big tenant's backlog never lies in its path.
DROP INDEX tasks_claim_idx;
CREATE INDEX tasks_claim_idx ON tasks (priority, run_at, id)
  WHERE status = 'queued' AND group_key IS NULL AND sequence_key IS NULL;

-- A group's due work in claim order, and its running rows (the cap's count).
CREATE INDEX tasks_group_claim_idx ON tasks (queue, group_key, priority, run_at, id)
  WHERE status = 'queued' AND group_key IS NOT NULL;
CREATE INDEX tasks_group_running_idx ON tasks (queue, group_key)
  WHERE status = 'running' AND group_key IS NOT NULL;

-- A sequence's live rows in enqueue order: the first one is its head.
CREATE INDEX tasks_sequence_idx ON tasks (queue, sequence_key, id)
  WHERE status IN ('queued', 'running') AND sequence_key IS NOT NULL;

-- Debounce: one queued task per (name, key); a later enqueue updates it.
CREATE UNIQUE INDEX tasks_debounce_idx ON tasks (name, debounce_key)
  WHERE status = 'queued' AND debounce_key IS NOT NULL;

-- Throttle and keyWindow: one task per (name, key, window), whatever its state.
CREATE UNIQUE INDEX tasks_window_idx ON tasks (name, window_key, window_start)
  WHERE window_key IS NOT NULL;

-- One row per group or sequence of a queue: claimers lock it (FOR UPDATE SKIP
-- LOCKED) so a group's cap and a sequence's order hold across processes, and
-- served_at rotates claims among groups (least recently served first).
CREATE TABLE task_flows (
  queue      text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('group', 'sequence')),
  key        text NOT NULL,
  tier       text,
  served_at  timestamptz NOT NULL DEFAULT '-infinity',
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, kind, key)
) WITH (fillfactor = 70);
CREATE INDEX task_flows_served_idx ON task_flows (queue, kind, served_at, key);

-- Per-group limits of a queue: the default cap, caps per tier, a start rate per
-- group, and whether claims rotate among groups (NULL: yes when groups are used).
ALTER TABLE queues
  ADD COLUMN group_concurrency integer CHECK (group_concurrency > 0),
  ADD COLUMN group_tiers       jsonb,
  ADD COLUMN group_rate_limit  integer CHECK (group_rate_limit > 0),
  ADD COLUMN group_rate_per    double precision CHECK (group_rate_per > 0),
  ADD COLUMN fair              boolean;

-- Claims up to p_limit due tasks of the groups and sequences of one queue.
-- Each statement of a VOLATILE function takes a fresh snapshot (READ COMMITTED):
-- the first statement locks the flow rows, the next ones count and pick with a
-- snapshot taken after those locks, so they see every claim committed by an
-- earlier holder of the same lock. No two processes claim for one group or
-- sequence at once, and a group's running count stays within its cap.
-- p_group_cap / p_tiers: the queue's caps (NULL: none); p_queue_cap: the queue's
-- cluster-wide cap, serialised with the plain capped claim's lock (p_lock_key).
CREATE FUNCTION claim_flow_tasks(
  p_queue text, p_names text[], p_limit integer, p_worker text, p_lease double precision,
  p_token uuid, p_group_cap integer, p_tiers jsonb, p_fair boolean,
  p_queue_cap integer, p_lock_key text)
RETURNS TABLE (id bigint, name text, queue text, payload jsonb, attempt integer, retries_left integer,
               retry_delay double precision, timeout double precision, backoff text,
               max_delay double precision, group_key text)
LANGUAGE plpgsql VOLATILE
SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
  v_limit  integer := p_limit;
  v_groups text[];
  v_seqs   text[];
  v_got    integer;
  v_per    integer;
BEGIN
  IF EXISTS (SELECT 1 FROM queues q WHERE q.name = p_queue AND q.paused) THEN RETURN; END IF;
  IF p_queue_cap IS NOT NULL THEN
    PERFORM pg_advisory_xact_lock(hashtext(p_lock_key));
    SELECT least(v_limit, greatest(0, p_queue_cap - count(*)))::integer INTO v_limit
      FROM tasks r WHERE r.status = 'running' AND r.queue = p_queue;
  END IF;
  IF v_limit <= 0 THEN RETURN; END IF;

  -- Sequences whose head (oldest queued or running row) is queued and due. The
  -- candidates come from a skip scan of the sequence index (one probe per live
  -- sequence), so sequences without live tasks cost nothing.
  WITH RECURSIVE live AS (
      (SELECT t.sequence_key AS key FROM tasks t
        WHERE t.queue = p_queue AND t.status IN ('queued', 'running') AND t.sequence_key IS NOT NULL
        ORDER BY t.sequence_key LIMIT 1)
      UNION ALL
      SELECT (SELECT t.sequence_key FROM tasks t
               WHERE t.queue = p_queue AND t.status IN ('queued', 'running') AND t.sequence_key > live.key
               ORDER BY t.sequence_key LIMIT 1)
        FROM live WHERE live.key IS NOT NULL
  )
  SELECT array_agg(live.key) INTO v_seqs FROM live WHERE live.key IS NOT NULL;
  IF v_seqs IS NOT NULL THEN
  SELECT array_agg(s.key) INTO v_seqs FROM (
    SELECT f.key FROM task_flows f
     WHERE f.queue = p_queue AND f.kind = 'sequence' AND f.key = ANY(v_seqs)
       AND EXISTS (SELECT 1 FROM (SELECT h.status, h.run_at, h.name FROM tasks h
                                   WHERE h.queue = p_queue AND h.sequence_key = f.key AND h.status IN ('queued', 'running')
                                   ORDER BY h.id LIMIT 1) head
                    WHERE head.status = 'queued' AND head.run_at <= now() AND head.name = ANY(p_names))
     ORDER BY f.served_at, f.key
     LIMIT v_limit
     FOR UPDATE OF f SKIP LOCKED) s;
  END IF;

  IF v_seqs IS NOT NULL THEN
    RETURN QUERY
    WITH heads AS (
      SELECT h.id FROM unnest(v_seqs) AS k(key)
       CROSS JOIN LATERAL (SELECT t.id, t.status, t.run_at, t.name FROM tasks t
                            WHERE t.queue = p_queue AND t.sequence_key = k.key AND t.status IN ('queued', 'running')
                            ORDER BY t.id LIMIT 1) h
       WHERE h.status = 'queued' AND h.run_at <= now() AND h.name = ANY(p_names)
    ), claimed AS (
      UPDATE tasks t
         SET status = 'running', attempts = t.attempts + 1, lease_token = p_token,
             locked_by = p_worker, locked_until = now() + make_interval(secs => p_lease),
             started_at = now(), updated_at = now()
       WHERE t.id = ANY (ARRAY(SELECT heads.id FROM heads)) AND t.status = 'queued'
      RETURNING t.id, t.name, t.queue, t.payload, t.attempts, (1 + t.max_retries - (t.attempts - t.deferrals)) AS retries_left,
                t.retry_delay, t.timeout, t.backoff, t.max_delay, t.sequence_key
    ), served AS (
      UPDATE task_flows f SET served_at = clock_timestamp()
       WHERE f.queue = p_queue AND f.kind = 'sequence' AND f.key IN (SELECT c.sequence_key FROM claimed c)
    )
    SELECT c.id, c.name, c.queue, c.payload, c.attempts, c.retries_left, c.retry_delay, c.timeout, c.backoff, c.max_delay, NULL::text
      FROM claimed c ORDER BY c.id;
    GET DIAGNOSTICS v_got = ROW_COUNT;
    v_limit := v_limit - v_got;
    IF v_limit <= 0 THEN RETURN; END IF;
  END IF;

  -- Groups with due work and, by this snapshot, room under their cap: least
  -- recently served first when fair, else by their first task. Locked groups
  -- are another claimer's: skipped. The candidates come from a skip scan of the
  -- group index (one probe per group with queued tasks): idle groups cost nothing.
  WITH RECURSIVE busy AS (
      (SELECT t.group_key AS key FROM tasks t
        WHERE t.queue = p_queue AND t.status = 'queued' AND t.group_key IS NOT NULL
        ORDER BY t.group_key LIMIT 1)
      UNION ALL
      SELECT (SELECT t.group_key FROM tasks t
               WHERE t.queue = p_queue AND t.status = 'queued' AND t.group_key > busy.key
               ORDER BY t.group_key LIMIT 1)
        FROM busy WHERE busy.key IS NOT NULL
  )
  SELECT array_agg(busy.key) INTO v_groups FROM busy WHERE busy.key IS NOT NULL;
  IF v_groups IS NULL THEN RETURN; END IF;
  SELECT array_agg(g.key) INTO v_groups FROM (
    SELECT f.key FROM task_flows f
     CROSS JOIN LATERAL (SELECT t.priority, t.run_at, t.id FROM tasks t
                          WHERE t.queue = p_queue AND t.group_key = f.key AND t.status = 'queued'
                            AND t.run_at <= now() AND t.name = ANY(p_names)
                          ORDER BY t.priority, t.run_at, t.id LIMIT 1) head
     WHERE f.queue = p_queue AND f.kind = 'group' AND f.key = ANY(v_groups)
       AND (coalesce((p_tiers ->> f.tier)::integer, p_group_cap) IS NULL
            OR (SELECT count(*) FROM tasks r WHERE r.status = 'running' AND r.queue = p_queue AND r.group_key = f.key)
               < coalesce((p_tiers ->> f.tier)::integer, p_group_cap))
     ORDER BY CASE WHEN p_fair THEN f.served_at END, head.priority, head.run_at, head.id
     LIMIT v_limit
     FOR UPDATE OF f SKIP LOCKED) g;
  IF v_groups IS NULL THEN RETURN; END IF;

  -- Fresh snapshot: room = cap - running, counted under the locks. Fair claims
  -- interleave the groups (each one's first task, then each one's second, …);
  -- within a group, priority, run_at, id. A fair claim reads at most its share
  -- (limit / groups) from each group; when some groups had less, a second pass
  -- fills the claim from those that have more.
  v_per := CASE WHEN p_fair THEN ceil(v_limit::numeric / cardinality(v_groups))::integer ELSE v_limit END;
  FOR pass IN 1..2 LOOP
  RETURN QUERY
  WITH room AS (
    SELECT f.key, f.served_at,
           coalesce((p_tiers ->> f.tier)::integer, p_group_cap)
             - (SELECT count(*) FROM tasks r WHERE r.status = 'running' AND r.queue = p_queue AND r.group_key = f.key)::integer AS free
      FROM task_flows f
     WHERE f.queue = p_queue AND f.kind = 'group' AND f.key = ANY(v_groups)
  ), picked AS (
    SELECT c.id FROM (
      SELECT t.id, t.priority, t.run_at, room.served_at, room.key,
             row_number() OVER (PARTITION BY room.key ORDER BY t.priority, t.run_at, t.id) AS turn
        FROM room CROSS JOIN LATERAL (
          SELECT q.id, q.priority, q.run_at FROM tasks q
           WHERE q.queue = p_queue AND q.group_key = room.key AND q.status = 'queued'
             AND q.run_at <= now() AND q.name = ANY(p_names)
           ORDER BY q.priority, q.run_at, q.id
           LIMIT least(v_per, coalesce(room.free, v_per))) t
       WHERE room.free IS NULL OR room.free > 0) c
     ORDER BY CASE WHEN p_fair THEN c.turn END, CASE WHEN p_fair THEN c.served_at END,
              c.priority, c.run_at, c.id
     LIMIT v_limit
  ), claimed AS (
    UPDATE tasks t
       SET status = 'running', attempts = t.attempts + 1, lease_token = p_token,
           locked_by = p_worker, locked_until = now() + make_interval(secs => p_lease),
           started_at = now(), updated_at = now()
     WHERE t.id = ANY (ARRAY(SELECT picked.id FROM picked)) AND t.status = 'queued'
    RETURNING t.id, t.name, t.queue, t.payload, t.attempts, (1 + t.max_retries - (t.attempts - t.deferrals)) AS retries_left,
              t.retry_delay, t.timeout, t.backoff, t.max_delay, t.group_key, t.priority, t.run_at
  ), served AS (
    UPDATE task_flows f SET served_at = clock_timestamp()
     WHERE f.queue = p_queue AND f.kind = 'group' AND f.key IN (SELECT c.group_key FROM claimed c)
  )
  SELECT c.id, c.name, c.queue, c.payload, c.attempts, c.retries_left, c.retry_delay, c.timeout, c.backoff, c.max_delay, c.group_key
    FROM claimed c ORDER BY c.priority, c.run_at, c.id;
  GET DIAGNOSTICS v_got = ROW_COUNT;
  v_limit := v_limit - v_got;
  EXIT WHEN v_limit <= 0 OR v_got = 0 OR v_per >= v_limit + v_got;
  v_per := v_limit;
  END LOOP;
END;
$$;
