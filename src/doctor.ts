import type pg from 'pg';
import { loadMigrations, withPluginMigrations } from './db/migrate.js';
import type { SqlNames } from './db/names.js';
import type { PluginMigration } from './plugins.js';

/** One finding of `courier.doctor()`. */
export interface DoctorCheck {
  /** What was checked. */
  name: string;
  /** `ok`, `warn` (look into it) or `fail` (broken). */
  level: 'ok' | 'warn' | 'fail';
  /** What was found, in one line. */
  detail: string;
}

/**
 * Health of a pgcourier schema and its database: migration drift, dead tuples
 * of the task table, the oldest transaction holding back vacuum, NOTIFY queue
 * usage and leases that expired without rescue.
 */
export async function diagnose(pool: pg.Pool, names: SqlNames, plugins: readonly PluginMigration[] = []): Promise<DoctorCheck[]> {
  const schema = names.schemaName;
  const checks: DoctorCheck[] = [];
  const known = (await withPluginMigrations(await loadMigrations(), plugins)).map((m) => m.version);
  const applied = await pool
    .query<{ version: number }>(`SELECT version FROM ${names.migrations} ORDER BY version`)
    .then((r) => r.rows.map((x) => x.version))
    .catch(() => null);
  if (applied === null) {
    checks.push({ name: 'schema', level: 'fail', detail: `schema "${schema}" is not migrated: run pgcourier migrate` });
    return checks;
  }
  const missing = known.filter((v) => !applied.includes(v));
  const unknown = applied.filter((v) => !known.includes(v));
  checks.push(
    missing.length
      ? { name: 'schema', level: 'fail', detail: `migrations not applied: ${missing.join(', ')} (run pgcourier migrate)` }
      : unknown.length
        ? { name: 'schema', level: 'warn', detail: `database has migrations this courier does not know (${unknown.join(', ')}): a newer pgcourier, or a plugin this courier does not use, migrated it` }
        : { name: 'schema', level: 'ok', detail: `up to date (${applied.length} migrations)` },
  );

  const { rows: stats } = await pool.query<{ live: string; dead: string; last_vacuum: Date | null; size: string }>(
    `SELECT n_live_tup AS live, n_dead_tup AS dead, greatest(last_vacuum, last_autovacuum) AS last_vacuum,
            pg_size_pretty(pg_total_relation_size(relid)) AS size
       FROM pg_stat_user_tables WHERE schemaname = $1 AND relname = 'tasks'`,
    [schema],
  );
  const t = stats[0];
  if (t) {
    const live = Number(t.live);
    const dead = Number(t.dead);
    const ratio = dead / Math.max(1, live + dead);
    checks.push({
      name: 'task table',
      level: ratio > 0.5 && dead > 10_000 ? 'warn' : 'ok',
      detail: `${live} live, ${dead} dead tuples (${(ratio * 100).toFixed(0)}%), ${t.size}, last vacuum ${t.last_vacuum?.toISOString() ?? 'never'}`,
    });
  }

  const { rows: xmin } = await pool.query<{ pid: number; age: number; seconds: number | null; state: string | null }>(
    `SELECT pid, age(backend_xmin) AS age, extract(epoch FROM now() - xact_start)::float8 AS seconds, state
       FROM pg_stat_activity WHERE backend_xmin IS NOT NULL AND pid <> pg_backend_pid()
      ORDER BY age(backend_xmin) DESC LIMIT 1`,
  );
  const oldest = xmin[0];
  checks.push(
    oldest && (oldest.seconds ?? 0) > 300
      ? { name: 'vacuum horizon', level: 'warn', detail: `pid ${oldest.pid} (${oldest.state}) holds a snapshot open for ${Math.round(oldest.seconds ?? 0)} s: dead task rows cannot be vacuumed` }
      : { name: 'vacuum horizon', level: 'ok', detail: oldest ? `oldest snapshot ${Math.round(oldest.seconds ?? 0)} s (pid ${oldest.pid})` : 'no open snapshots' },
  );

  const { rows: nq } = await pool.query<{ usage: number }>('SELECT pg_notification_queue_usage()::float8 AS usage');
  const usage = nq[0]?.usage ?? 0;
  checks.push({ name: 'notify queue', level: usage > 0.5 ? 'warn' : 'ok', detail: `${(usage * 100).toFixed(2)}% used${usage > 0.5 ? ': a listener is not consuming notifications' : ''}` });

  const { rows: stuck } = await pool.query<{ n: string }>(`SELECT count(*) AS n FROM ${names.tasks} WHERE status = 'running' AND locked_until < now() - interval '1 minute'`);
  const n = Number(stuck[0]?.n ?? 0);
  checks.push(
    n > 0
      ? { name: 'leases', level: 'warn', detail: `${n} running task(s) with a lease expired over a minute ago: no worker is running rescue` }
      : { name: 'leases', level: 'ok', detail: 'no stuck leases' },
  );
  return checks;
}
