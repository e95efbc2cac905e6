-- Enqueue from SQL: triggers, migrations, cron jobs inside Postgres and other
-- languages add a task with
--   SELECT <schema>.enqueue('send_receipt', '{"orderId": 42}', '{"queue": "email", "key": "receipt:42"}');
-- It returns the task's id. Like enqueueTask with `tx`, the task exists only if the
-- caller's transaction commits, and the insert trigger's NOTIFY (due now, or the
-- due time of a delayed task) reaches the workers at that commit.
--
-- Options are enqueueTask's words: queue, priority, maxRetries, retryDelay,
-- timeout, backoff, maxDelay, runAt (ISO-8601 with offset, or epoch milliseconds),
-- delay (seconds), key, keyMode ('keep' or 'replace'). A JSON null counts as absent.
-- An unknown option name, a wrong type or an out-of-range value raises
-- invalid_parameter_value (22023) naming the option, and nothing is written.
--
-- Defaults are the table's: queue 'default', priority 5, maxRetries 3, retryDelay
-- 60, no timeout, backoff and maxDelay from the task's definition at run time. The
-- defaults of a registered definition (defineTask({ queue, priority, … })) live in
-- the application and are not applied here: pass them as options. The payload is
-- checked against the definition's schema by the worker, before the handler runs;
-- a payload that does not match fails the task at once (no retries).
CREATE FUNCTION enqueue(name text, payload jsonb DEFAULT '{}', options jsonb DEFAULT '{}')
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
  SELECT k INTO bad_option FROM jsonb_object_keys(opts) AS k
   WHERE k NOT IN ('queue', 'priority', 'maxRetries', 'retryDelay', 'timeout', 'backoff', 'maxDelay', 'runAt', 'delay', 'key', 'keyMode')
   ORDER BY k LIMIT 1;
  IF bad_option IS NOT NULL THEN
    RAISE EXCEPTION 'enqueue: unknown option "%" (accepted: queue, priority, maxRetries, retryDelay, timeout, backoff, maxDelay, runAt, delay, key, keyMode)', left(bad_option, 200)
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

  v_run_at := coalesce(v_run_at, now() + make_interval(secs => coalesce(v_delay, 0)));

  IF v_key IS NULL THEN
    INSERT INTO tasks (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, backoff, max_delay)
    VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_backoff, v_max_delay)
    RETURNING id INTO v_id;
    RETURN v_id;
  END IF;

  -- A key: one live task per (name, key), the same statements as the library's.
  -- 'keep' returns the live task's id; 'replace' overwrites a queued one (a running
  -- one is left alone and its id returned). If the holder finishes between the
  -- insert and the read, try again.
  FOR attempt IN 1..3 LOOP
    IF v_key_mode = 'replace' THEN
      INSERT INTO tasks AS t (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key, backoff, max_delay)
      VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_key, v_backoff, v_max_delay)
      ON CONFLICT (name, key) WHERE key IS NOT NULL AND status IN ('queued', 'running') DO UPDATE
        SET payload = EXCLUDED.payload, queue = EXCLUDED.queue, priority = EXCLUDED.priority,
            max_retries = EXCLUDED.max_retries, retry_delay = EXCLUDED.retry_delay, timeout = EXCLUDED.timeout,
            backoff = EXCLUDED.backoff, max_delay = EXCLUDED.max_delay, run_at = EXCLUDED.run_at, updated_at = now()
        WHERE t.status = 'queued'
      RETURNING id INTO v_id;
    ELSE
      INSERT INTO tasks (queue, name, payload, priority, max_retries, retry_delay, timeout, run_at, key, backoff, max_delay)
      VALUES (v_queue, enqueue.name, body, v_priority, v_max_retries, v_retry_delay, v_timeout, v_run_at, v_key, v_backoff, v_max_delay)
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
  'Enqueues a task from SQL and returns its id: enqueue(name, payload, options). Options: queue, priority, maxRetries, retryDelay, timeout, backoff, maxDelay, runAt, delay, key, keyMode. Defaults are the table''s, not a task definition''s; the worker validates the payload at run time.';
