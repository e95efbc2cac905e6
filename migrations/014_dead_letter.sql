-- Dead-letter queues: a task that fails for good in a queue with a dead_letter
-- setting moves to that queue, still 'failed', with its origin in dead_from and
-- its attempts and errors kept, in the statement that fails it (settle, rescue).
-- Redrive moves it back (docs/decisions/0008).
ALTER TABLE queues ADD COLUMN dead_letter text;

ALTER TABLE tasks ADD COLUMN dead_from text;

-- Dead-lettered rows, for redrive and the dead-letter view.
CREATE INDEX tasks_dead_idx ON tasks (queue, dead_from, id) WHERE dead_from IS NOT NULL;
