import type { Logger } from 'pino';
import { storableText, unstorableInJsonb } from '../db/json.js';
import { PermanentError, RetryAfter, TaskTimeoutError } from '../errors.js';
import type { TaskContext, TaskDefinition } from '../registry.js';
import { backoffSeconds } from './backoff.js';
import type { ClaimedTask } from './claim.js';
import type { Settlement } from './settle.js';

/** Largest handler result we store, as JSON. */
export const MAX_RESULT_BYTES = 1024 * 1024;
const MAX_ERROR_CHARS = 4000;

/** What a handler run came to, before the retry decision. */
export type Outcome =
  | { kind: 'succeeded'; result: string }
  | { kind: 'error'; message: string; permanent: boolean }
  | { kind: 'deferred'; delay: number; message: string | null };

/**
 * Runs one handler to an {@link Outcome}. Never throws: a sync throw, a rejected
 * promise, a non-JSON or oversized result and a timeout each become an outcome.
 * On timeout the outcome is final even if the handler ignores its signal.
 */
export async function executeTask(
  def: TaskDefinition,
  task: ClaimedTask,
  ctx: Omit<TaskContext, 'signal'>,
  controller: AbortController,
  logger: Logger,
): Promise<Outcome> {
  let cancelTimer = () => {};
  try {
    let payload: unknown = task.payload;
    if (def.payload) {
      const parsed = def.payload.safeParse(task.payload);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        return { kind: 'error', permanent: true, message: `payload no longer matches the task's schema at "${['payload', ...(issue?.path ?? []).map(String)].join('.')}": ${issue?.message}` };
      }
      payload = parsed.data;
    }
    const run = Promise.resolve().then(() => def.handler(payload, { ...ctx, signal: controller.signal }));
    const timeout = task.timeout;
    const value = timeout
      ? await Promise.race([
          run,
          new Promise<never>((_, reject) => {
            cancelTimer = after(timeout * 1000, () => {
              const err = new TaskTimeoutError(`timed out after ${timeout}s`);
              controller.abort(err);
              reject(err);
            });
          }),
        ])
      : await run;
    if (value instanceof RetryAfter) return { kind: 'deferred', delay: value.seconds, message: null };
    return encodeResult(value);
  } catch (err) {
    if (err instanceof RetryAfter) return { kind: 'deferred', delay: err.seconds, message: null };
    const message = describeError(err);
    if (!(err instanceof PermanentError)) logger.debug({ err: message }, 'task attempt failed');
    return { kind: 'error', permanent: err instanceof PermanentError, message };
  } finally {
    cancelTimer();
  }
}

/** Node timers overflow past 2^31 - 1 ms; longer waits are chained. Returns a canceller. */
export function after(ms: number, fn: () => void): () => void {
  const MAX = 2_147_483_647;
  let timer: NodeJS.Timeout;
  const arm = (left: number) => {
    timer = setTimeout(() => (left > MAX ? arm(left - MAX) : fn()), Math.min(left, MAX));
  };
  arm(ms);
  return () => clearTimeout(timer);
}

function encodeResult(value: unknown): Outcome {
  let json: string | undefined;
  try {
    json = JSON.stringify(value);
  } catch (err) {
    return { kind: 'error', permanent: true, message: `handler returned a value that is not JSON-serialisable: ${describeError(err)}` };
  }
  json ??= 'null';
  const unstorable = unstorableInJsonb(json);
  if (unstorable) return { kind: 'error', permanent: true, message: `handler returned a value with ${unstorable}, which Postgres jsonb cannot store` };
  const bytes = Buffer.byteLength(json);
  if (bytes > MAX_RESULT_BYTES) {
    return { kind: 'error', permanent: true, message: `handler returned ${bytes} bytes of JSON; results are limited to ${MAX_RESULT_BYTES} bytes` };
  }
  return { kind: 'succeeded', result: json };
}

/** A readable one-line description of anything thrown. */
export function describeError(err: unknown): string {
  const text = err instanceof Error ? `${err.name}: ${err.message}` : typeof err === 'string' ? err : safeString(err);
  const clean = storableText(text);
  return clean.length > MAX_ERROR_CHARS ? `${clean.slice(0, MAX_ERROR_CHARS).toWellFormed()}…` : clean;
}

function safeString(value: unknown): string {
  try {
    return `non-error thrown: ${JSON.stringify(value) ?? String(value)}`;
  } catch {
    return `non-error thrown: ${Object.prototype.toString.call(value)}`;
  }
}

/** Decides retry or fail for an outcome of attempt `task.attempts`. */
export function toSettlement(task: ClaimedTask, outcome: Outcome, random: () => number = Math.random): Settlement {
  const fence = { id: String(task.id), token: task.lease_token };
  switch (outcome.kind) {
    case 'succeeded':
      return { ...fence, kind: 'succeeded', result: outcome.result };
    case 'deferred':
      return { ...fence, kind: 'deferred', delay: outcome.delay, error: outcome.message };
    case 'error':
      if (outcome.permanent || task.attempts - task.deferrals > task.max_retries) return { ...fence, kind: 'failed', error: outcome.message };
      return { ...fence, kind: 'retry', error: outcome.message, delay: backoffSeconds(task.attempts, task.retry_delay, random) };
  }
}
