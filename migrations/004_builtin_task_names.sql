-- Built-in tasks are named pgcourier.*: the built-in cleanup schedule, created
-- before that rename, enqueues 'cleanup' (which may now be a user's task). Point it
-- at the built-in task. The schedule name is ours; user schedules are untouched.
UPDATE schedules SET task = 'pgcourier.cleanup', updated_at = now()
 WHERE name = 'pgcourier.cleanup' AND task = 'cleanup';
