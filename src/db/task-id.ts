/** Largest value of a Postgres `bigint`: task ids and cursors beyond it name no row. */
export const MAX_BIGINT = 9223372036854775807n;

/** Whether `value` is a task id as the engine hands them out: a decimal 1 … 2^63-1. */
export function isTaskId(value: unknown): value is string {
  return typeof value === 'string' && /^[1-9][0-9]{0,18}$/.test(value) && BigInt(value) <= MAX_BIGINT;
}
