import { type PgQueryable, runPrepared } from '../db/pool.js';
import type { Fence } from './settle.js';

/**
 * Extends the leases this worker holds by `lease` seconds. Returns the ids whose
 * lease still matched; the others were rescued, cancelled or finished elsewhere.
 */
export async function renewLeases(db: PgQueryable, table: string, fences: Fence[], lease: number): Promise<Set<string>> {
  const { rows } = await runPrepared<{ id: string }>(
    db,
    `UPDATE ${table} AS t
        SET locked_until = now() + make_interval(secs => $3)
       FROM unnest($1::bigint[], $2::uuid[]) AS v(id, token)
      WHERE t.id = v.id AND t.lease_token = v.token AND t.status = 'running'
     RETURNING t.id`,
    [fences.map((f) => f.id), fences.map((f) => f.token), lease],
  );
  return new Set(rows.map((r) => String(r.id)));
}

/** Records a running attempt's progress; `false` when the lease no longer matches. */
export async function recordProgress(db: PgQueryable, table: string, fence: Fence, progress: { current: number; total: number | null }): Promise<boolean> {
  const res = await runPrepared(
    db,
    `UPDATE ${table} SET progress = $3::jsonb, updated_at = now()
      WHERE id = $1 AND lease_token = $2 AND status = 'running'`,
    [fence.id, fence.token, JSON.stringify(progress)],
  );
  return (res.rowCount ?? 0) > 0;
}
