-- The W3C traceparent of the context that enqueued a task (NULL when tracing is
-- off), so the worker's consumer span links back to the producer's.
ALTER TABLE tasks ADD COLUMN traceparent text;
