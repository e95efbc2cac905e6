import type { SqlNames } from '../db/names.js';
import type { Queryable } from '../db/pool.js';
import type { TaskStatus } from '../db/types.js';

/** One step of a workflow (or member or callback of a batch) as {@link WorkflowInfo} lists it. */
export interface WorkflowStep {
  /** The step's task id. */
  taskId: string;
  /** Step name (workflows), or `null` (batch members; callbacks are named `onComplete`, `onSuccess`, `onFailure`). */
  step: string | null;
  /** Task name. */
  name: string;
  status: TaskStatus;
  /** Task ids of its parents. */
  dependsOn: string[];
  /** Parents not finished yet (while `waiting`). */
  pendingParents: number;
  attempts: number;
  /** The handler's result once succeeded. */
  result: unknown;
  lastError: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

/** Counts of a workflow's tasks (a batch's members only) by state. */
export interface WorkflowProgress {
  total: number;
  waiting: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
}

/** What `courier.getWorkflow(id)` returns. */
export interface WorkflowInfo {
  id: string;
  kind: 'workflow' | 'batch';
  name: string | null;
  /**
   * `running` while any task may still run; then `succeeded` when every task
   * succeeded, `failed` when any failed, else `cancelled` (skipped batch callbacks
   * do not count against a batch).
   */
  status: 'running' | 'succeeded' | 'failed' | 'cancelled';
  progress: WorkflowProgress;
  createdAt: Date;
  /** Every step in id (enqueue) order. */
  steps: WorkflowStep[];
}

const CALLBACK_STEPS: Record<string, string> = { complete: 'onComplete', success: 'onSuccess', failure: 'onFailure' };

/** Reads a workflow or batch with each step's state, or `null` when no workflow has this id. */
export async function readWorkflow(db: Queryable, names: SqlNames, id: string): Promise<WorkflowInfo | null> {
  if (!/^[1-9][0-9]{0,18}$/.test(id)) return null;
  const [{ rows: head }, { rows }] = await Promise.all([
    db.query<{ id: string; kind: 'workflow' | 'batch'; name: string | null; created_at: Date }>(`SELECT id::text, kind, name, created_at FROM ${names.table('workflows')} WHERE id = $1`, [id]),
    db.query<{
      id: string;
      step: string | null;
      name: string;
      status: TaskStatus;
      depends_on: string[] | null;
      pending_parents: number;
      attempts: number;
      result: unknown;
      last_error: string | null;
      started_at: Date | null;
      finished_at: Date | null;
      batch_callback: string | null;
    }>(
      `SELECT id::text, step, name, status, depends_on::text[], pending_parents, attempts, result, last_error, started_at, finished_at, batch_callback
         FROM ${names.tasks} WHERE workflow_id = $1 ORDER BY id`,
      [id],
    ),
  ]);
  const w = head[0];
  if (!w) return null;
  const progress: WorkflowProgress = { total: 0, waiting: 0, queued: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 };
  let live = false;
  let failed = false;
  let cancelled = false;
  for (const r of rows) {
    const isCallback = r.batch_callback !== null;
    if (r.status === 'waiting' || r.status === 'queued' || r.status === 'running') live = true;
    if (r.status === 'failed') failed = true;
    // A batch callback skipped because its condition did not hold is not a cancellation of the batch.
    if (r.status === 'cancelled' && !(isCallback && r.last_error?.startsWith('skipped:'))) cancelled = true;
    if (w.kind === 'batch' && isCallback) continue;
    progress.total++;
    progress[r.status]++;
  }
  return {
    id: w.id,
    kind: w.kind,
    name: w.name,
    status: live ? 'running' : failed ? 'failed' : cancelled ? 'cancelled' : 'succeeded',
    progress,
    createdAt: w.created_at,
    steps: rows.map((r) => ({
      taskId: r.id,
      step: r.step ?? (r.batch_callback ? (CALLBACK_STEPS[r.batch_callback] ?? null) : null),
      name: r.name,
      status: r.status,
      dependsOn: r.depends_on ?? [],
      pendingParents: r.pending_parents,
      attempts: r.attempts,
      result: r.result,
      lastError: r.last_error,
      startedAt: r.started_at,
      finishedAt: r.finished_at,
    })),
  };
}
