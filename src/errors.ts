/** Base class of every error pgcourier throws on purpose. */
export class CourierError extends Error {
  override name = 'CourierError';
}

/**
 * Input failed validation. `field` names the offending option or payload path
 * (for example `priority` or `payload.userId`); nothing was written.
 */
export class ValidationError extends CourierError {
  override name = 'ValidationError';
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
}

/**
 * Returned or thrown by a handler to run the task again after exactly `seconds`,
 * for example to honour a provider's `Retry-After`. The deferred run does not
 * count against `maxRetries` (its attempt number is still used up).
 */
export class RetryAfter extends CourierError {
  override name = 'RetryAfter';
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
