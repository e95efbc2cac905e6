import type { TaskErrorEntry, TaskRow, TaskStatus } from './db/types.js';

/**
 * What `getTask(id)` returns. `P` and `R` type the payload and result when the
 * task's definition is given (`getTask(id, def)`); both are `unknown` otherwise.
 */
export interface TaskInfo<P = unknown, R = unknown> {
  /** Opaque task id. */
  id: string;
  /** Task name. */
  name: string;
  /** Queue name. */
  queue: string;
  /** The payload as enqueued. */
  payload: P;
  /** 1 = highest … 10 = lowest. */
  priority: number;
  /** Current state. */
  status: TaskStatus;
  /** Runs started so far; `ctx.attempt` of the latest run. */
  attempts: number;
  /** Retries allowed after the first attempt. */
  maxRetries: number;
  /** Earliest time the task may (next) run. */
  runAt: Date;
  /** The handler's JSON return value once succeeded, else `null`. */
  result: R | null;
  /** Last progress the handler reported. */
  progress: { current: number; total: number | null } | null;
  /** Message of the most recent error. */
  lastError: string | null;
  /**
   * Bounded history of errors (the most recent 20), oldest first: each
   * `{ attempt, message, stack?, at }`, with the stack trace when the thrown error had one.
   */
  errors: TaskErrorEntry[];
  /** Dedup key, if any. */
  key: string | null;
  /** When the task was enqueued. */
  createdAt: Date;
  /** When the latest attempt started. */
  startedAt: Date | null;
  /** When the task reached a final state. */
  finishedAt: Date | null;
}

/** Row shape of the tasks table; defined with the table's other facts in `db/types.ts`. */
export type { TaskRow } from './db/types.js';

/** Maps a table row to the public {@link TaskInfo}. */
export function toTaskInfo(row: TaskRow): TaskInfo {
  return {
    id: String(row.id),
    name: row.name,
    queue: row.queue,
    payload: row.payload,
    priority: row.priority,
    status: row.status,
    attempts: row.attempts,
    maxRetries: row.max_retries,
    runAt: row.run_at,
    result: row.result,
    progress: row.progress,
    lastError: row.last_error,
    errors: row.errors,
    key: row.key,
    createdAt: row.created_at,
    startedAt: row.started_at,
    finishedAt: row.finished_at,
  };
}
