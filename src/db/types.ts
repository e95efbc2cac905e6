/**
 * Status of a task: `queued → running → succeeded | failed | cancelled`; a task
 * with unfinished parents (`dependsOn`) is `waiting` first, never claimed.
 */
export type TaskStatus = 'waiting' | 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

/** One entry of a task's bounded error history. */
export interface TaskErrorEntry {
  /** Attempt number the error ended. */
  attempt: number;
  /** Error message (one line). */
  message: string;
  /**
   * The thrown error's stack trace, bounded in length; absent when the error had
   * none (lease expiry, errors recorded by pgcourier itself, non-Error throws).
   */
  stack?: string;
  /** When it was recorded (ISO-8601). */
  at: string;
  /** When the attempt started (ISO-8601); recorded by version 0.2 on, absent in older entries. */
  startedAt?: string;
  /** The worker (`locked_by`) that ran the attempt, when one did. */
  worker?: string;
}

/**
 * A row of the `tasks` table as `pg` returns it from `SELECT *` (bigint ids as
 * strings, jsonb parsed). The only hand-written row type of the table:
 * `TASK_COLUMNS` below must name exactly its keys, and a test holds that list
 * against the migrated table.
 */
export interface TaskRow {
  id: string;
  queue: string;
  name: string;
  payload: unknown;
  priority: number;
  status: TaskStatus;
  attempts: number;
  max_retries: number;
  deferrals: number;
  retry_delay: number;
  timeout: number | null;
  run_at: Date;
  key: string | null;
  lease_token: string | null;
  locked_by: string | null;
  locked_until: Date | null;
  result: unknown;
  progress: { current: number; total: number | null } | null;
  last_error: string | null;
  errors: TaskErrorEntry[];
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Date;
  /** Backoff curve given at enqueue (migration 011), or null for the definition's. */
  backoff: 'exponential' | 'linear' | 'fixed' | null;
  /** Longest delay between attempts given at enqueue (seconds), or null. */
  max_delay: number | null;
  /** Group of the task (migration 013), or null. */
  group_key: string | null;
  /** Tier of the group given at enqueue, or null. */
  group_tier: string | null;
  /** FIFO sequence key, or null. */
  sequence_key: string | null;
  /** Debounce key while the task is queued, or null. */
  debounce_key: string | null;
  /** Throttle or keyWindow key, or null. */
  window_key: string | null;
  /** Start of the key's window, or null. */
  window_start: Date | null;
  /** Queue the task came from when it was dead-lettered (migration 014), or null. */
  dead_from: string | null;
  /** Parent task ids (migration 015), or null. */
  depends_on: string[] | null;
  /** Per-parent policy on failure (null entries: 'fail'), or null when all are 'fail'. */
  parent_policies: Array<string | null> | null;
  /** Parents not finished yet. */
  pending_parents: number;
  /** Parents that failed or were cancelled on a 'run' edge. */
  failed_parents: number;
  /** Waiting dependents still to be told when this task finishes, or null. */
  dependents: string[] | null;
  /** Workflow or batch id, or null. */
  workflow_id: string | null;
  /** Step name in its workflow, or null. */
  step: string | null;
  /** Batch callback kind, or null. */
  batch_callback: 'complete' | 'success' | 'failure' | null;
  /** W3C traceparent of the enqueuing context (migration 016), or null. */
  traceparent: string | null;
  /** W3C traceparent of the consumer span of the attempt that finished the task (migration 042), or null. */
  run_traceparent: string | null;
}

/** Every key of `T` named by `L`, or a type naming the keys `L` misses: a compile-time exhaustiveness check. */
type Exactly<T, L extends readonly (keyof T)[]> = Exclude<keyof T, L[number]> extends never ? L : ['missing keys', Exclude<keyof T, L[number]>];

const taskColumns = [
  'id',
  'queue',
  'name',
  'payload',
  'priority',
  'status',
  'attempts',
  'max_retries',
  'deferrals',
  'retry_delay',
  'timeout',
  'run_at',
  'key',
  'lease_token',
  'locked_by',
  'locked_until',
  'result',
  'progress',
  'last_error',
  'errors',
  'created_at',
  'started_at',
  'finished_at',
  'updated_at',
  'backoff',
  'max_delay',
  'group_key',
  'group_tier',
  'sequence_key',
  'debounce_key',
  'window_key',
  'window_start',
  'dead_from',
  'depends_on',
  'parent_policies',
  'pending_parents',
  'failed_parents',
  'dependents',
  'workflow_id',
  'step',
  'batch_callback',
  'traceparent',
  'run_traceparent',
] as const;

/** The columns of the `tasks` table, in {@link TaskRow}'s order; checked against the migrations by a test. */
export const TASK_COLUMNS: Exactly<TaskRow, typeof taskColumns> = taskColumns;
