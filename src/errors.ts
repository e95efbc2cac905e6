/** Stable machine-readable codes of pgcourier's errors; they never change between versions. */
export type CourierErrorCode =
  | 'COURIER_ERROR'
  | 'VALIDATION'
  | 'UNKNOWN_TASK'
  | 'NOT_FOUND'
  | 'CONFLICT'
  | 'INVALID_STATE'
  | 'NOT_MIGRATED'
  | 'PERMANENT'
  | 'RETRY_AFTER'
  | 'TASK_TIMEOUT'
  | 'LEASE_LOST'
  | 'SHUTDOWN'
  | 'WAIT_TIMEOUT';

/** Base class of every error pgcourier throws on purpose. `code` is stable; match on it or on the class. */
export class CourierError extends Error {
  override name = 'CourierError';
  /** Stable code of this error class. */
  readonly code: CourierErrorCode = 'COURIER_ERROR';
}

/**
 * Input failed validation. `field` names the offending option or payload path
 * (for example `priority` or `payload.userId`); nothing was written.
 */
export class ValidationError extends CourierError {
  override name = 'ValidationError';
  override readonly code: CourierErrorCode = 'VALIDATION';
  /** Dotted path of the field that failed, e.g. `priority` or `payload.userId`. */
  readonly field: string;
  /** What the field must be, in words. */
  readonly expected: string;

  constructor(where: string, field: string, expected: string) {
    super(`${where}: "${field}" ${expected}`);
    this.field = field;
    this.expected = expected;
  }
}

/** Enqueue or processing named a task that is not registered. */
export class UnknownTaskError extends ValidationError {
  override name = 'UnknownTaskError';
  override readonly code: CourierErrorCode = 'UNKNOWN_TASK';
  /** The task name that was not found. */
  readonly taskName: string;

  constructor(taskName: string, where = 'enqueueTask', field = 'name') {
    super(where, field, `must be a registered task name; "${taskName.slice(0, 200)}" is not registered`);
    this.taskName = taskName;
  }
}

/**
 * Throw from a handler to fail the task at once, whatever retries remain.
 *
 * @example
 * ```ts
 * if (!user) throw new PermanentError(`user ${id} does not exist`);
 * ```
 */
export class PermanentError extends CourierError {
  override name = 'PermanentError';
  override readonly code: CourierErrorCode = 'PERMANENT';
}

/**
 * Returned or thrown by a handler to run the task again after exactly `seconds`,
 * for example to honour a provider's `Retry-After`. The deferred run does not
 * count against `maxRetries` (its attempt number is still used up).
 */
export class RetryAfter extends CourierError {
  override name = 'RetryAfter';
  override readonly code: CourierErrorCode = 'RETRY_AFTER';
  /** Seconds until the task runs again. */
  readonly seconds: number;

  constructor(seconds: number, reason?: string) {
    super(reason ?? `retry after ${seconds}s`);
    if (!Number.isFinite(seconds) || seconds < 0 || seconds > 31_536_000) {
      throw new ValidationError('retryAfter', 'seconds', 'must be a number of seconds from 0 to a year');
    }
    this.seconds = seconds;
  }
}

/**
 * Reschedules the running task to start again in `seconds` without using up a retry.
 * Return it or throw it from a handler.
 *
 * @example
 * ```ts
 * if (res.status === 429) return retryAfter(Number(res.headers.get('retry-after') ?? 5));
 * ```
 */
export function retryAfter(seconds: number, reason?: string): RetryAfter {
  return new RetryAfter(seconds, reason);
}

/**
 * The task, schedule, queue or message named does not exist (HTTP 404).
 *
 * @example
 * ```ts
 * try { await courier.promote(id); } catch (err) { if (err instanceof NotFoundError) console.log(err.code); }
 * ```
 */
export class NotFoundError extends CourierError {
  override name = 'NotFoundError';
  override readonly code: CourierErrorCode = 'NOT_FOUND';
}

/** The operation clashes with something that exists, for example registering a task name that is taken (HTTP 409). */
export class ConflictError extends CourierError {
  override name = 'ConflictError';
  override readonly code: CourierErrorCode = 'CONFLICT';
}

/**
 * The object is in the wrong state for the operation: deleting a running task,
 * starting a courier twice, enqueueing on a closed courier (HTTP 409).
 */
export class StateError extends CourierError {
  override name = 'StateError';
  override readonly code: CourierErrorCode = 'INVALID_STATE';
}

/**
 * pgcourier's tables do not exist in this schema yet, or the schema was migrated by
 * an older version and lacks what this one needs: run `courier.migrate()` or `pgcourier migrate`.
 */
export class NotMigratedError extends CourierError {
  override name = 'NotMigratedError';
  override readonly code: CourierErrorCode = 'NOT_MIGRATED';

  /** `missing` names what an older schema lacks; without it the tables are missing. */
  constructor(schema: string, missing?: string) {
    super(
      missing
        ? `schema "${schema}" was migrated by an older pgcourier and lacks ${missing}: run courier.migrate() (or \`pgcourier migrate\`), or create the courier with { migrate: true }`
        : `pgcourier's tables do not exist in schema "${schema}": run courier.migrate() (or \`pgcourier migrate\`) first, or create the courier with { migrate: true }`,
    );
  }
}

/** `ctx.signal.reason` when the attempt ran longer than its `timeout`. */
export class TaskTimeoutError extends CourierError {
  override name = 'TaskTimeoutError';
  override readonly code: CourierErrorCode = 'TASK_TIMEOUT';
}

/**
 * `ctx.signal.reason` when the worker lost the task's lease (the task was
 * cancelled, rescued after a stall, or finished elsewhere): whatever the handler
 * returns is dropped.
 */
export class LeaseLostError extends CourierError {
  override name = 'LeaseLostError';
  override readonly code: CourierErrorCode = 'LEASE_LOST';
}

/** `ctx.signal.reason` when the worker stops and the grace period ended: the task goes back to its queue. */
export class ShutdownError extends CourierError {
  override name = 'ShutdownError';
  override readonly code: CourierErrorCode = 'SHUTDOWN';
}

/**
 * `courier.waitForTask(id, { timeout })` gave up: the task had not reached a final
 * state within `timeout` seconds. The task itself is untouched and may still finish.
 *
 * @example
 * ```ts
 * try {
 *   await courier.waitForTask(id, { timeout: 5 });
 * } catch (err) {
 *   if (err instanceof WaitTimeoutError) console.log(`task ${err.taskId} still ${err.code}`);
 * }
 * ```
 */
export class WaitTimeoutError extends CourierError {
  override name = 'WaitTimeoutError';
  override readonly code: CourierErrorCode = 'WAIT_TIMEOUT';
  /** Id of the task waited for. */
  readonly taskId: string;
  /** Seconds waited. */
  readonly timeout: number;

  constructor(taskId: string, timeout: number) {
    super(`task ${taskId} did not finish within ${timeout} seconds`);
    this.taskId = taskId;
    this.timeout = timeout;
  }
}
