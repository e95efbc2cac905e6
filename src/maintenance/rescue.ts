import type { Logger } from 'pino';
import { announceSql, IDS_PER_NOTIFICATION } from '../db/announce.js';
import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import { appendErrorSql, retriesLeftSql } from '../db/task-sql.js';
import { Periodic } from './service.js';

const LEASE_LOST = `'lease expired: worker ' || coalesce(t.locked_by, '?') || ' stopped renewing it'`;

/** A task the rescuer put back (or failed). */
export interface Rescued {
  id: string;
  queue: string;
  status: string;
}

/**
 * Returns tasks whose lease expired (their worker died or hung) to `queued`, or
 * fails them when that lost attempt was their last. The claim already counted
 * the attempt. Runs only if this session wins the schema's rescue advisory lock,
 * so concurrent workers never rescue twice; lock and update are one statement,
 * and the queues that got tasks back are woken by NOTIFY in the same statement,
 * which also announces the tasks as `retrying` or `failed` on the events channel
 * (with no publisher: no process emitted a local event for them).
 */
export async function rescueExpiredLeases(db: Queryable, names: SqlNames, limit = 1000): Promise<Rescued[]> {
  const t = names.tasks;
  const { rows } = await db.query<Rescued>(
    `WITH lock AS (SELECT pg_try_advisory_xact_lock(hashtext($1)) AS won),
     expired AS (
       SELECT id FROM ${t}
        WHERE status = 'running' AND locked_until < now() AND (SELECT won FROM lock)
        ORDER BY locked_until
        LIMIT $2
        FOR UPDATE SKIP LOCKED
     ), rescued AS (
     UPDATE ${t} AS t
        SET status = CASE WHEN ${retriesLeftSql('t')} <= 0 THEN 'failed' ELSE 'queued' END,
            finished_at = CASE WHEN ${retriesLeftSql('t')} <= 0 THEN now() END,
            run_at = now(),
            last_error = ${LEASE_LOST},
            errors = ${appendErrorSql('t', LEASE_LOST)},
            locked_by = NULL, locked_until = NULL, updated_at = now()
       FROM expired
      WHERE t.id = expired.id
     RETURNING t.id, t.queue, t.status, t.attempts
     ), woken AS (
       SELECT pg_notify($3, q.queue) FROM (SELECT DISTINCT queue FROM rescued WHERE status = 'queued') AS q
     ), outcomes AS (
       SELECT id, attempts AS attempt, CASE WHEN status = 'failed' THEN 'failed' ELSE 'retrying' END AS kind,
              (row_number() OVER () - 1) / ${IDS_PER_NOTIFICATION} AS chunk
         FROM rescued
     ), announced AS (${announceSql(names, 'outcomes', '$4', "''")})
     SELECT id::text, queue, status FROM rescued, (SELECT count(*) FROM woken) AS w, (SELECT count(*) FROM announced) AS a`,
    [`pgcourier.rescue:${names.schemaName}`, limit, names.channel, names.events],
  );
  return rows;
}

/** The rescue service: every `interval` seconds, rescues expired leases (one process at a time). */
export class Rescuer extends Periodic {
  constructor(opts: { db: Queryable; names: SqlNames; logger: Logger; interval: number; onRescued: (rescued: Rescued[]) => void; onError: (err: Error) => void }) {
    super(
      opts.interval,
      async () => {
        const rescued = await rescueExpiredLeases(opts.db, opts.names);
        if (rescued.length === 0) return;
        opts.logger.warn({ count: rescued.length, ids: rescued.slice(0, 20).map((r) => r.id) }, 'rescued tasks whose lease expired');
        opts.onRescued(rescued);
      },
      opts.onError,
    );
  }
}
