-- The W3C traceparent of the consumer span of the attempt that finished a task
-- (NULL when tracing is off), written by the completion statement itself, so
-- that the spans of its dependents and of its batch's callbacks link to it.
ALTER TABLE tasks ADD COLUMN run_traceparent text;
