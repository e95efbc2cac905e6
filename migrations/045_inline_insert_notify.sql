-- A one-row enqueue through the library's pool announces its task in its own
-- INSERT statement (pg_notify over the RETURNING row) and sets
-- pgcourier.inline_notify for its transaction, which is only that statement. The
-- insert trigger then does not fire for it: the trigger's transition table and
-- plpgsql query cost about a third of that statement's execution. Every other
-- insert (bulk, flow, workflow, SQL enqueue(), transactions of the host) still
-- notifies through the trigger.
DROP TRIGGER tasks_inserted_notify ON tasks;
CREATE TRIGGER tasks_inserted_notify
  AFTER INSERT ON tasks
  REFERENCING NEW TABLE AS inserted
  FOR EACH STATEMENT
  WHEN (current_setting('pgcourier.inline_notify', true) IS DISTINCT FROM 'on')
  EXECUTE FUNCTION notify_tasks_inserted();
