-- Autovacuum settings for the task table. Every task leaves dead row versions
-- (claimed, finished) and a dead entry in the claim index, which each claim walks
-- from its start until a vacuum removes it. With the defaults a table that keeps
-- 1,000,000 finished tasks is vacuumed after 200,000 dead rows; these settings
-- vacuum it after 10,000 plus 2% of its rows, and let the vacuum of this one
-- table work ten times faster than the default cost limit allows. Busy workers
-- also vacuum it themselves between autovacuum's visits (src/maintenance/vacuum.ts).
-- The table's end is never truncated: that takes a lock that stops every claim and
-- insert while it lasts, and the end of a queue table is where new rows go.
ALTER TABLE tasks SET (
  autovacuum_vacuum_threshold = 10000,
  autovacuum_vacuum_scale_factor = 0.02,
  autovacuum_analyze_threshold = 10000,
  autovacuum_analyze_scale_factor = 0.05,
  autovacuum_vacuum_cost_limit = 2000,
  vacuum_truncate = false
);
