-- Dead-letter queues: a task that fails for good in a queue with a dead_letter
-- setting moves to that queue, still 'failed', with its origin in dead_from and
-- its attempts and errors kept. Redrive moves it back (docs/decisions/0006).
ALTER TABLE queues ADD COLUMN dead_letter text;

ALTER TABLE tasks ADD COLUMN dead_from text;

-- Dead-lettered rows, for redrive and the dead-letter view.
CREATE INDEX tasks_dead_idx ON tasks (queue, dead_from, id) WHERE dead_from IS NOT NULL;

-- The move happens inside whichever statement fails the task (settle, rescue),
-- so failing and dead-lettering are one state change. The WHEN clause keeps the
-- function off every other update.
CREATE FUNCTION dead_letter_failed() RETURNS trigger
LANGUAGE plpgsql
SET search_path FROM CURRENT
AS $$
DECLARE
  target text;
BEGIN
  SELECT q.dead_letter INTO target FROM queues q WHERE q.name = NEW.queue;
  IF target IS NOT NULL AND target <> NEW.queue THEN
    NEW.dead_from := NEW.queue;
    NEW.queue := target;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER tasks_dead_letter
BEFORE UPDATE OF status ON tasks
FOR EACH ROW
WHEN (NEW.status = 'failed' AND OLD.status <> 'failed' AND NEW.dead_from IS NULL)
EXECUTE FUNCTION dead_letter_failed();
