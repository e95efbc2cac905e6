/**
 * Helpers for testing code that uses pgcourier, in the host application's own
 * test suite. They run the real SQL against the test database: nothing is mocked.
 *
 * @example
 * ```ts
 * import { createTestClock, drainUntilIdle, expectEnqueued } from 'pgcourier/testing';
 *
 * await signUp('a@example.com');                       // your code enqueues send_welcome
 * await expectEnqueued(courier, 'send_welcome', { email: 'a@example.com' });
 * const clock = createTestClock(courier);
 * await clock.advance(3600);                           // delayed tasks and retries come due
 * await drainUntilIdle(courier);
 * ```
 * @module
 */
import type { Courier } from '../courier.js';
import type { EnqueueOptions } from '../manager.js';
import type { TaskDefinition } from '../registry.js';
import { ticksBetween } from '../scheduler/cron.js';
import type { ScheduleInfo } from '../scheduler/schedules.js';
import type { TaskInfo, TaskRow } from '../task-info.js';
import { toTaskInfo } from '../task-info.js';

/**
 * A controllable clock for one courier's schema. `advance(seconds)` makes that
 * much time pass for the queue: every timestamp in the schema moves back by it
 * (so delayed tasks, retries, leases, retention and rate windows come due). A
 * cron schedule whose ticks fall inside the jump enqueues its latest tick, plus
 * up to `backfill` earlier ones, as workers coming back after that long would:
 * 8 days of an hourly schedule with the default `backfill: 0` is one task. No
 * test has to sleep.
 */
export interface TestClock {
  /** Seconds advanced so far. */
  readonly offset: number;
  /** The queue's notion of now: real time plus the offset. */
  now(): Date;
  /** Lets `seconds` pass. */
  advance(seconds: number): Promise<void>;
}

/**
 * Creates a {@link TestClock} over `courier`'s schema.
 *
 * @example
 * ```ts
 * const clock = createTestClock(courier);
 * await courier.enqueueTask('reminder', {}, { runAt: new Date(Date.now() + 3_600_000) });
 * await clock.advance(3600);
 * await drainUntilIdle(courier, { clock });
 * ```
 */
export function createTestClock(courier: Courier): TestClock {
  const names = courier.names;
  let offset = 0;
  return {
    get offset() {
      return offset;
    },
    now: () => new Date(Date.now() + offset * 1000),
    async advance(seconds: number) {
      if (!Number.isFinite(seconds) || seconds < 0) throw new TypeError('advance(seconds) takes a finite number >= 0');
      const target = new Date(Date.now() + seconds * 1000);
      // The latest tick inside the jump runs, with `backfill` earlier ones: start each schedule there.
      for (const s of await courier.listSchedules()) {
        const from = s.paused ? undefined : jumpStart(s, target);
        if (from) await courier.pool.query(`UPDATE ${names.schedules} SET next_run_at = $2 WHERE name = $1`, [s.name, from]);
      }
      await courier.runMaintenance({ now: target, catchUp: true });
      const client = await courier.pool.connect();
      try {
        await client.query('BEGIN');
        const d = [seconds];
        const by = `make_interval(secs => $1)`;
        await client.query(
          `UPDATE ${names.tasks} SET run_at = run_at - ${by}, created_at = created_at - ${by}, updated_at = updated_at - ${by},
             started_at = started_at - ${by}, finished_at = finished_at - ${by}, locked_until = locked_until - ${by}`,
          d,
        );
        await client.query(`UPDATE ${names.schedules} SET next_run_at = next_run_at - ${by}, last_run_at = last_run_at - ${by}`, d);
        await client.query(`UPDATE ${names.scheduleRuns} SET tick = tick - ${by}`, d);
        await client.query(`UPDATE ${names.rateLimits} SET grants = ARRAY(SELECT g - ${by} FROM unnest(grants) AS g)`, d);
        await client.query(`UPDATE ${names.workers} SET last_heartbeat = last_heartbeat - ${by}`, d);
        await client.query('COMMIT');
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      } finally {
        client.release();
      }
      offset += seconds;
    },
  };
}

/** The earliest tick a clock jump to `target` enqueues for `s` (its latest due tick, less `backfill`), or `undefined` when none is due. */
function jumpStart(s: ScheduleInfo, target: Date): Date | undefined {
  if (s.nextRunAt > target) return undefined;
  return ticksBetween(s.cron, s.timezone, new Date(s.nextRunAt.getTime() - 1), target, s.backfill + 1)[0];
}

/** Options of {@link drainUntilIdle}. */
export interface DrainOptions {
  /** Most rounds before giving up (default 100): guards against a task that re-enqueues itself forever. */
  maxRounds?: number;
  /** Run the cleanup of finished tasks past retention each round (default true). */
  cleanup?: boolean;
}

/**
 * Runs everything that is due until nothing is: rescue of expired leases, due
 * cron ticks, due tasks (including tasks they enqueue), and cleanup. Returns how
 * many tasks ran.
 *
 * @example
 * ```ts
 * const ran = await drainUntilIdle(courier); // retries due now run too
 * ```
 */
export async function drainUntilIdle(courier: Courier, options: DrainOptions = {}): Promise<number> {
  const maxRounds = options.maxRounds ?? 100;
  let total = 0;
  for (let round = 0; round < maxRounds; round++) {
    const { rescued, scheduled } = await courier.runMaintenance();
    const ran = await courier.drain();
    if (options.cleanup ?? true) await courier.cleanup();
    total += ran;
    if (ran + rescued + scheduled === 0) return total;
  }
  throw new Error(`drainUntilIdle: still busy after ${maxRounds} rounds (a task keeps enqueueing work?)`);
}

/** Matches a payload: a partial object (JSON containment) or a predicate. */
export type PayloadMatcher = Record<string, unknown> | unknown[] | ((payload: any) => boolean);

async function queuedTasks(courier: Courier, name: string, matcher?: PayloadMatcher): Promise<TaskInfo[]> {
  const names = courier.names;
  const contains = matcher !== undefined && typeof matcher !== 'function';
  const { rows } = await courier.pool.query<TaskRow>(
    `SELECT * FROM ${names.tasks} WHERE name = $1 AND status = 'queued' ${contains ? 'AND payload @> $2::jsonb' : ''} ORDER BY id`,
    contains ? [name, JSON.stringify(matcher)] : [name],
  );
  const tasks = rows.map(toTaskInfo);
  return typeof matcher === 'function' ? tasks.filter((t) => (matcher as (p: unknown) => boolean)(t.payload)) : tasks;
}

/**
 * Asserts that a queued task named `name` exists (whose payload matches, when a
 * matcher is given) and returns the matches. Throws a descriptive Error otherwise.
 *
 * @example
 * ```ts
 * await signUp('ana@example.com');
 * await expectEnqueued(courier, 'send_welcome', { email: 'ana@example.com' });
 * ```
 */
export async function expectEnqueued(courier: Courier, name: string, matcher?: PayloadMatcher): Promise<TaskInfo[]> {
  const found = await queuedTasks(courier, name, matcher);
  if (found.length === 0) {
    const queued = await queuedTasks(courier, name);
    throw new Error(
      `expected a queued "${name}" task${matcher ? ` matching ${describe(matcher)}` : ''}, found ${queued.length === 0 ? 'none' : `only: ${queued.slice(0, 5).map((t) => JSON.stringify(t.payload)).join(', ')}`}`,
    );
  }
  return found;
}

/**
 * Asserts that no queued task named `name` (matching, when given) exists.
 *
 * @example
 * ```ts
 * await expectNotEnqueued(courier, 'send_welcome', (payload) => (payload as { email: string }).email === 'bot@example.com');
 * ```
 */
export async function expectNotEnqueued(courier: Courier, name: string, matcher?: PayloadMatcher): Promise<void> {
  const found = await queuedTasks(courier, name, matcher);
  if (found.length > 0) throw new Error(`expected no queued "${name}" task${matcher ? ` matching ${describe(matcher)}` : ''}, found ${found.length} (first: ${JSON.stringify(found[0]?.payload)})`);
}

/** The task did not succeed in {@link runTask}. */
export class TaskRunError extends Error {
  override name = 'TaskRunError';
  /** The task as it ended. */
  readonly task: TaskInfo;

  constructor(task: TaskInfo) {
    super(`task ${task.name} (${task.id}) ended ${task.status}: ${task.lastError ?? 'no error recorded'}`);
    this.task = task;
  }
}

/**
 * Enqueues a task (by definition or name) with `payload`, validated as usual,
 * and runs it at once through the real claim, run and settle path. Resolves the
 * handler's result (typed by the definition); rejects with {@link TaskRunError}
 * when the attempt did not succeed.
 *
 * @example
 * ```ts
 * const result = await runTask(courier, sendWelcome, { email: 'a@example.com' }); // typed by sendWelcome's handler
 * ```
 */
export async function runTask<P, R>(courier: Courier, task: TaskDefinition<P, string, R>, payload: P, options?: EnqueueOptions): Promise<Awaited<R>>;
export async function runTask<R = unknown>(courier: Courier, name: string, payload?: unknown, options?: EnqueueOptions): Promise<R>;
export async function runTask(courier: Courier, nameOrTask: string | TaskDefinition<any, string, any>, payload?: unknown, options?: EnqueueOptions): Promise<unknown> {
  const id = await courier.enqueueTask(nameOrTask as string, payload, options);
  await courier.runTaskNow(id);
  const task = (await courier.getTask(id)) as TaskInfo;
  if (task.status !== 'succeeded') throw new TaskRunError(task);
  return task.result;
}

function describe(m: PayloadMatcher): string {
  return typeof m === 'function' ? 'the predicate' : JSON.stringify(m);
}
