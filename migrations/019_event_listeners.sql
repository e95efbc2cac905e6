-- Processes that listen to the cluster events channel (`<schema>.events`). The
-- statements that write outcomes announce them only while a live row is here, so
-- a cluster where nobody waits or listens pays no NOTIFY per completion. Rows are
-- renewed by their listener and expire on their own (a killed process stops
-- costing at `expires_at`). UNLOGGED: the rows are soft state that a listener
-- writes again on its next renewal after a crash or failover.
CREATE UNLOGGED TABLE event_listeners (
  id text PRIMARY KEY,
  expires_at timestamptz NOT NULL
);
