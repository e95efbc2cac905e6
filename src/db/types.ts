import type { ColumnType, Generated } from 'kysely';

/** Status of a task: `queued → running → succeeded | failed | cancelled`. */
export type TaskStatus = 'queued' | 'running' | 'succeeded' | 'failed' | 'cancelled';

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
}

/** Row of the `tasks` table as Kysely sees it. */
export interface TasksTable {
  id: Generated<string>;
  queue: string;
  name: string;
  payload: ColumnType<unknown, string, string>;
  priority: number;
  status: TaskStatus;
  attempts: number;
  max_retries: number;
  retry_delay: number;
  timeout: number | null;
  run_at: ColumnType<Date, Date | string, Date | string>;
  key: string | null;
  lease_token: string | null;
  locked_by: string | null;
  locked_until: Date | null;
  result: unknown;
  progress: { current: number; total: number | null } | null;
  last_error: string | null;
  errors: ColumnType<TaskErrorEntry[], string, string>;
  created_at: Generated<Date>;
  started_at: Date | null;
  finished_at: Date | null;
  updated_at: Generated<Date>;
}

/** The tables pgcourier owns in its schema. */
export interface Database {
  tasks: TasksTable;
}
