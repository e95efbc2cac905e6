-- enqueue() from SQL takes the flow-control options too (migration 013's words):
--   group, groupTier (with group), sequence, debounce {key, seconds, mode},
--   throttle {key, seconds}, keyWindow (seconds, with key).
-- The rows, task_flows rows, conflicts and wake-ups are the library's
-- (src/flow/enqueue.ts): a group or sequence new to its queue gets its
-- task_flows row and a '#queues' NOTIFY, so workers start claiming that queue
-- through the flow claim (claim_flow_tasks) at commit; a group's tier is set to
-- the latest enqueue's. Combinations the library refuses are refused here with
-- invalid_parameter_value (22023) naming the option. dependsOn is refused: a
-- task with parents needs the library (courier.enqueueTask, courier.workflow).
CREATE OR REPLACE FUNCTION enqueue(name text, payload jsonb DEFAULT '{}', options jsonb DEFAULT '{}')
RETURNS bigint
LANGUAGE plpgsql
-- The migration's search_path (this schema first), so `tasks` is this schema's table whoever calls.
SET search_path FROM CURRENT
AS $$
#variable_conflict use_column
DECLARE
  opts jsonb := coalesce(enqueue.options, '{}');
  body jsonb := coalesce(enqueue.payload, '{}');
  bad_option text;
  v jsonb;
  v_queue text := 'default';
  v_priority smallint := 5;
  v_max_retries integer := 3;
  v_retry_delay double precision := 60;
  v_timeout double precision;
  v_backoff text;
  v_max_delay double precision;
  v_run_at timestamptz;
  v_delay double precision;
  v_key text;
  v_key_mode text := 'keep';
  v_group text;
  v_group_tier text;
  v_sequence text;
  v_debounce_key text;
  v_debounce_seconds double precision;
  v_debounce_mode text;
  v_window_key text;
  v_window_seconds double precision;
  v_key_window double precision;
  v_created integer := 0;
  v_id bigint;
BEGIN
  IF enqueue.name IS NULL OR enqueue.name !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
    RAISE EXCEPTION 'enqueue: "name" must be 1-128 characters of letters, digits, _ . : - (got %)', coalesce(quote_literal(left(enqueue.name, 200)), 'NULL')
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF octet_length(body::text) > 1048576 THEN
    RAISE EXCEPTION 'enqueue: "payload" must be at most 1048576 bytes as JSON' USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF jsonb_typeof(opts) <> 'object' THEN
    RAISE EXCEPTION 'enqueue: "options" must be a JSON object (got %)', jsonb_typeof(opts) USING ERRCODE = 'invalid_parameter_value';
  END IF;
  IF opts ? 'dependsOn' THEN
    RAISE EXCEPTION 'enqueue: option "dependsOn" is not supported in SQL; enqueue tasks with parents from the library (courier.enqueueTask with dependsOn, or courier.workflow())'
      USING ERRCODE = 'invalid_parameter_value';
  END IF;
  SELECT k INTO bad_option FROM jsonb_object_keys(opts) AS k
   WHERE k NOT IN ('queue', 'priority', 'maxRetries', 'retryDelay', 'timeout', 'backoff', 'maxDelay', 'runAt', 'delay', 'key', 'keyMode',
                   'group', 'groupTier', 'sequence', 'debounce', 'throttle', 'keyWindow')
   ORDER BY k LIMIT 1;
  IF bad_option IS NOT NULL THEN
    RAISE EXCEPTION 'enqueue: unknown option "%" (accepted: queue, priority, maxRetries, retryDelay, timeout, backoff, maxDelay, runAt, delay, key, keyMode, group, groupTier, sequence, debounce, throttle, keyWindow)', left(bad_option, 200)
      USING ERRCODE = 'invalid_parameter_value';
  END IF;

  v := nullif(opts -> 'queue', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'string' OR v #>> '{}' !~ '^[A-Za-z0-9_.:-]{1,128}$' THEN
      RAISE EXCEPTION 'enqueue: option "queue" must be 1-128 characters of letters, digits, _ . : -' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_queue := v #>> '{}';
  END IF;
  v := nullif(opts -> 'priority', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric NOT IN (1, 2, 3, 4, 5, 6, 7, 8, 9, 10) THEN
      RAISE EXCEPTION 'enqueue: option "priority" must be an integer from 1 (highest) to 10 (lowest)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_priority := v::numeric;
  END IF;
  v := nullif(opts -> 'maxRetries', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric <> trunc(v::numeric) OR v::numeric NOT BETWEEN 0 AND 1000 THEN
      RAISE EXCEPTION 'enqueue: option "maxRetries" must be an integer from 0 to 1000' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_max_retries := v::numeric;
  END IF;
  v := nullif(opts -> 'retryDelay', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric NOT BETWEEN 0 AND 31536000 THEN
      RAISE EXCEPTION 'enqueue: option "retryDelay" must be a number of seconds from 0 to 31536000 (a year)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_retry_delay := v::numeric;
  END IF;
  v := nullif(opts -> 'timeout', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric <= 0 OR v::numeric > 31536000 THEN
      RAISE EXCEPTION 'enqueue: option "timeout" must be a number of seconds > 0, at most 31536000 (a year)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_timeout := v::numeric;
  END IF;
  v := nullif(opts -> 'backoff', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'string' OR v #>> '{}' NOT IN ('exponential', 'linear', 'fixed') THEN
      RAISE EXCEPTION 'enqueue: option "backoff" must be "exponential", "linear" or "fixed"' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_backoff := v #>> '{}';
  END IF;
  v := nullif(opts -> 'maxDelay', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric NOT BETWEEN 0 AND 31536000 THEN
      RAISE EXCEPTION 'enqueue: option "maxDelay" must be a number of seconds from 0 to 31536000 (a year)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_max_delay := v::numeric;
  END IF;
  v := nullif(opts -> 'delay', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric NOT BETWEEN 0 AND 31536000 THEN
      RAISE EXCEPTION 'enqueue: option "delay" must be a number of seconds from 0 to 31536000 (a year)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_delay := v::numeric;
  END IF;
  v := nullif(opts -> 'runAt', 'null');
  IF v IS NOT NULL THEN
    IF v_delay IS NOT NULL THEN
      RAISE EXCEPTION 'enqueue: option "delay" must not be given together with runAt (pick one)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v) = 'number' AND v::numeric >= 1e11 AND v::numeric < 253402300800000 THEN
      v_run_at := to_timestamp(v::numeric / 1000);
    ELSIF jsonb_typeof(v) = 'number' THEN
      RAISE EXCEPTION 'enqueue: option "runAt" must be epoch milliseconds up to the year 9999; a number below 10^11 looks like epoch seconds (use delay for seconds from now, or multiply by 1000)'
        USING ERRCODE = 'invalid_parameter_value';
    ELSIF jsonb_typeof(v) = 'string' AND v #>> '{}' ~ '^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|z|[+-]\d{2}(:?\d{2})?)$' THEN
      BEGIN
        v_run_at := (v #>> '{}')::timestamptz;
      EXCEPTION WHEN datetime_field_overflow OR invalid_datetime_format THEN
        RAISE EXCEPTION 'enqueue: option "runAt" is not a valid date (got %)', left(v #>> '{}', 100) USING ERRCODE = 'invalid_parameter_value';
      END;
    ELSE
      RAISE EXCEPTION 'enqueue: option "runAt" must be an ISO-8601 time with an offset (2030-01-01T09:00:00Z) or epoch milliseconds' USING ERRCODE = 'invalid_parameter_value';
    END IF;
  END IF;
  v := nullif(opts -> 'key', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') NOT BETWEEN 1 AND 512 THEN
      RAISE EXCEPTION 'enqueue: option "key" must be a string of 1-512 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_key := v #>> '{}';
  END IF;
  v := nullif(opts -> 'keyMode', 'null');
  IF v IS NOT NULL THEN
    IF v_key IS NULL THEN
      RAISE EXCEPTION 'enqueue: option "keyMode" must be given only together with key' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v) <> 'string' OR v #>> '{}' NOT IN ('keep', 'replace') THEN
      RAISE EXCEPTION 'enqueue: option "keyMode" must be "keep" or "replace"' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_key_mode := v #>> '{}';
  END IF;

  -- Flow options: the same bounds and refusals as src/flow/options.ts and flowRow().
  v := nullif(opts -> 'group', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') NOT BETWEEN 1 AND 200 THEN
      RAISE EXCEPTION 'enqueue: option "group" must be a string of 1-200 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_group := v #>> '{}';
  END IF;
  v := nullif(opts -> 'groupTier', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') NOT BETWEEN 1 AND 100 THEN
      RAISE EXCEPTION 'enqueue: option "groupTier" must be a string of 1-100 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_group IS NULL THEN
      RAISE EXCEPTION 'enqueue: option "groupTier" must be given only together with group' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_group_tier := v #>> '{}';
  END IF;
  v := nullif(opts -> 'sequence', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'string' OR length(v #>> '{}') NOT BETWEEN 1 AND 512 THEN
      RAISE EXCEPTION 'enqueue: option "sequence" must be a string of 1-512 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_group IS NOT NULL THEN
      RAISE EXCEPTION 'enqueue: option "sequence" must not be given together with group (a sequence already runs one task at a time)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_sequence := v #>> '{}';
  END IF;
  v := nullif(opts -> 'debounce', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(v) AS k WHERE k NOT IN ('key', 'seconds', 'mode')) THEN
      RAISE EXCEPTION 'enqueue: option "debounce" must be {"key": string, "seconds": number, "mode"?: "replace" | "extend"}' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v -> 'key') IS DISTINCT FROM 'string' OR length(v ->> 'key') NOT BETWEEN 1 AND 512 THEN
      RAISE EXCEPTION 'enqueue: option "debounce.key" must be a string of 1-512 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v -> 'seconds') IS DISTINCT FROM 'number' OR (v -> 'seconds')::numeric NOT BETWEEN 0.001 AND 86400 THEN
      RAISE EXCEPTION 'enqueue: option "debounce.seconds" must be a number of seconds > 0, at most a day (86400)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF nullif(v -> 'mode', 'null') IS NOT NULL AND (jsonb_typeof(v -> 'mode') <> 'string' OR v ->> 'mode' NOT IN ('replace', 'extend')) THEN
      RAISE EXCEPTION 'enqueue: option "debounce.mode" must be "replace" or "extend"' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    SELECT f INTO bad_option FROM unnest(ARRAY['key', 'throttle', 'keyWindow', 'runAt', 'delay']) AS f
     WHERE nullif(opts -> f, 'null') IS NOT NULL LIMIT 1;
    IF bad_option IS NOT NULL THEN
      RAISE EXCEPTION 'enqueue: option "%" must not be given together with debounce (debounce sets the run time)', bad_option USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_debounce_key := v ->> 'key';
    v_debounce_seconds := (v -> 'seconds')::numeric;
    v_debounce_mode := coalesce(nullif(v -> 'mode', 'null') #>> '{}', 'extend');
  END IF;
  v := nullif(opts -> 'keyWindow', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'number' OR v::numeric NOT BETWEEN 0.001 AND 86400 THEN
      RAISE EXCEPTION 'enqueue: option "keyWindow" must be a number of seconds > 0, at most a day (86400)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_key_window := v::numeric;
  END IF;
  v := nullif(opts -> 'throttle', 'null');
  IF v IS NOT NULL THEN
    IF jsonb_typeof(v) <> 'object' OR EXISTS (SELECT 1 FROM jsonb_object_keys(v) AS k WHERE k NOT IN ('key', 'seconds')) THEN
      RAISE EXCEPTION 'enqueue: option "throttle" must be {"key": string, "seconds": number}' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v -> 'key') IS DISTINCT FROM 'string' OR length(v ->> 'key') NOT BETWEEN 1 AND 512 THEN
      RAISE EXCEPTION 'enqueue: option "throttle.key" must be a string of 1-512 characters' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF jsonb_typeof(v -> 'seconds') IS DISTINCT FROM 'number' OR (v -> 'seconds')::numeric NOT BETWEEN 0.001 AND 86400 THEN
      RAISE EXCEPTION 'enqueue: option "throttle.seconds" must be a number of seconds > 0, at most a day (86400)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF v_key IS NOT NULL OR v_key_window IS NOT NULL THEN
      RAISE EXCEPTION 'enqueue: option "throttle" must not be given together with key or keyWindow' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    v_window_key := v ->> 'key';
    v_window_seconds := (v -> 'seconds')::numeric;
  END IF;
  IF v_key_window IS NOT NULL THEN
    IF v_key IS NULL THEN
      RAISE EXCEPTION 'enqueue: option "keyWindow" must be given only together with key' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    IF nullif(opts -> 'keyMode', 'null') IS NOT NULL THEN
      RAISE EXCEPTION 'enqueue: option "keyMode" must not be given together with keyWindow (a window keeps its first task)' USING ERRCODE = 'invalid_parameter_value';
    END IF;
    -- The key names the window, not a live task (the library's row.key is null too).
    v_window_key := v_key;
    v_window_seconds := v_key_window;
    v_key := NULL;
  END IF;

  v_run_at := coalesce(v_run_at, now() + make_interval(secs => coalesce(v_delay, v_debounce_seconds, 0)));

  -- A group or sequence new to its queue: its row, and a '#queues' NOTIFY (sent
  -- at commit) so workers re-read which queues have flows. A group's tier is the
  -- latest enqueue's.
  IF v_group IS NOT NULL OR v_sequence IS NOT NULL THEN
    INSERT INTO task_flows (queue, kind, key, tier)
    VALUES (v_queue, CASE WHEN v_group IS NOT NULL THEN 'group' ELSE 'sequence' END, coalesce(v_group, v_sequence), v_group_tier)
    ON CONFLICT (queue, kind, key) DO NOTHING;
    GET DIAGNOSTICS v_created = ROW_COUNT;
    IF v_group IS NOT NULL AND v_created = 0 THEN
      UPDATE task_flows f SET tier = v_group_tier
       WHERE f.queue = v_queue AND f.kind = 'group' AND f.key = v_group AND f.tier IS DISTINCT FROM v_group_tier;
    END IF;
    IF v_created > 0 THEN
      PERFORM pg_notify(current_schema() || '.tasks', '#queues');
    END IF;
  END IF;

  IF v_debounce_key IS NOT NULL THEN
    -- While a task of this name and debounce key is queued, update it: the last
    -- payload wins; 'extend' moves its run time, 'replace' keeps it.
    INSERT INTO tasks AS t (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, backoff, max_delay,
                            group_key, group_tier, sequence_key, debounce_key)
    VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_backoff, v_max_delay,
            v_group, v_group_tier, v_sequence, v_debounce_key)
    ON CONFLICT (name, debounce_key) WHERE status = 'queued' AND debounce_key IS NOT NULL DO UPDATE SET
      payload = EXCLUDED.payload, priority = EXCLUDED.priority, max_retries = EXCLUDED.max_retries,
      retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout, backoff = EXCLUDED.backoff,
      max_delay = EXCLUDED.max_delay, updated_at = now(),
      run_at = CASE WHEN v_debounce_mode = 'extend' THEN EXCLUDED.run_at ELSE t.run_at END
    RETURNING id INTO v_id;
    RETURN v_id;
  END IF;

  IF v_window_key IS NOT NULL THEN
    -- One task per (name, key, window), whatever its state. The no-op update
    -- returns the holder's id even when it committed after this statement began.
    INSERT INTO tasks AS t (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, backoff, max_delay,
                            group_key, group_tier, sequence_key, window_key, window_start)
    VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_backoff, v_max_delay,
            v_group, v_group_tier, v_sequence, v_window_key,
            to_timestamp(floor(extract(epoch FROM now()) / v_window_seconds) * v_window_seconds))
    ON CONFLICT (name, window_key, window_start) WHERE window_key IS NOT NULL DO UPDATE SET window_key = EXCLUDED.window_key
    RETURNING id INTO v_id;
    RETURN v_id;
  END IF;

  IF v_key IS NULL THEN
    INSERT INTO tasks (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, backoff, max_delay,
                       group_key, group_tier, sequence_key)
    VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_backoff, v_max_delay,
            v_group, v_group_tier, v_sequence)
    RETURNING id INTO v_id;
    RETURN v_id;
  END IF;

  -- A key: one live task per (name, key), the same statements as the library's.
  -- 'keep' returns the live task's id; 'replace' overwrites a queued one (a running
  -- one is left alone and its id returned). If the holder finishes between the
  -- insert and the read, try again.
  FOR attempt IN 1..3 LOOP
    IF v_key_mode = 'replace' THEN
      INSERT INTO tasks AS t (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key, backoff, max_delay,
                              group_key, group_tier, sequence_key)
      VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_key, v_backoff, v_max_delay,
              v_group, v_group_tier, v_sequence)
      ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') DO UPDATE
        SET payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority,
            max_retries = EXCLUDED.max_retries, retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout,
            backoff = EXCLUDED.backoff, max_delay = EXCLUDED.max_delay, run_at = EXCLUDED.run_at, updated_at = now()
        WHERE t.status = 'queued'
      RETURNING id INTO v_id;
    ELSE
      INSERT INTO tasks (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key, backoff, max_delay,
                         group_key, group_tier, sequence_key)
      VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_key, v_backoff, v_max_delay,
              v_group, v_group_tier, v_sequence)
      ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') DO NOTHING
      RETURNING id INTO v_id;
    END IF;
    IF v_id IS NOT NULL THEN
      RETURN v_id;
    END IF;
    SELECT id INTO v_id FROM tasks WHERE name = enqueue.name AND key = v_key AND status IN ('queued', 'running');
    IF v_id IS NOT NULL THEN
      RETURN v_id;
    END IF;
  END LOOP;
  RAISE EXCEPTION 'enqueue: the task holding key % kept changing; try again', quote_literal(v_key) USING ERRCODE = 'serialization_failure';
END;
$$;

COMMENT ON FUNCTION enqueue(text, jsonb, jsonb) IS
  'Enqueues a task from SQL and returns its id: enqueue(name, payload, options). Options: queue, priority, maxRetries, retryDelay, timeout, backoff, maxDelay, runAt, delay, key, keyMode, group, groupTier, sequence, debounce, throttle, keyWindow (dependsOn: use the library). Defaults are the table''s, not a task definition''s; the worker validates the payload at run time.';
