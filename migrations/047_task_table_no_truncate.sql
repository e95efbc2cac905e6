-- Vacuum never truncates the task table's end. Truncating takes a lock that stops
-- every claim and insert while it lasts (and is replayed on standbys, where it
-- stops reads), and the end of a queue table is where new rows go, so there is
-- rarely anything to give back. The table's autovacuum thresholds are set in 001;
-- busy workers also vacuum it between autovacuum's visits (src/maintenance/vacuum.ts).
ALTER TABLE tasks SET (vacuum_truncate = false);
