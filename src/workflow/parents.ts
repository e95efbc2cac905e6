import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';

/**
 * Results of a task's succeeded parents, keyed by the parent's step name in its
 * workflow, else by its task id. Parents that failed or were cancelled (on a
 * `'run'` edge) are absent; a task without parents gets `{}`.
 */
export async function loadParents(db: Queryable, names: SqlNames, taskId: string): Promise<Record<string, unknown>> {
  const { rows } = await db.query<{ key: string; result: unknown }>(
    `SELECT coalesce(p.step, p.id::text) AS key, p.result
       FROM ${names.tasks} AS c JOIN ${names.tasks} AS p ON p.id = ANY (c.depends_on)
      WHERE c.id = $1 AND p.status = 'succeeded'
      ORDER BY p.id`,
    [taskId],
  );
  const out: Record<string, unknown> = {};
  for (const r of rows) out[r.key] = r.result;
  return out;
}
