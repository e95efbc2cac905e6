import { afterAll, beforeAll, describe, expect, expectTypeOf, it } from 'vitest';
import type { ClusterEventMap, ClusterEventName } from '../src/cluster-events.js';
import { WaitTimeoutError } from '../src/errors.js';
import { type Courier, createCourier, NotFoundError, StateError, type TaskDefinition, ValidationError } from '../src/index.js';
import { boom, flaky, hold, ok } from './fixtures/event-tasks.js';
import { databaseUrl, freshSchema, waitFor } from './helpers/db.js';
import { spawnWorker, type WorkerProcess } from './helpers/workers.js';

const EVENTS: ClusterEventName[] = ['task:succeeded', 'task:failed', 'task:retrying', 'task:cancelled'];
const DEFS: TaskDefinition<any, string, any>[] = [ok, boom, flaky, hold];
/** Far enough ahead that no worker starts it during a test. */
const later = () => new Date(Date.now() + 3_600_000);

type Seen = { event: ClusterEventName } & ClusterEventMap[ClusterEventName];

/** Records every cluster event `courier` sees, once its LISTEN connection is up. */
async function collect(courier: Courier): Promise<{ seen: Seen[]; off(): void }> {
  const seen: Seen[] = [];
  const offs = EVENTS.map((event) => courier.clusterEvents.on(event, (e) => seen.push({ event, ...e })));
  await waitFor(() => courier.clusterEvents.listening, 10_000, 'the LISTEN connection');
  return {
    seen,
    off: () => {
      for (const off of offs) off();
    },
  };
}

/**
 * Cancels a delayed task and waits until `seen` holds its `task:cancelled`.
 * Notifications arrive in commit order, so whatever was announced before has
 * arrived by then: counting after this is exact, with no sleep.
 */
async function sentinel(courier: Courier, seen: Seen[]): Promise<void> {
  const id = await courier.enqueueTask('ev_hold', {}, { runAt: later() });
  expect(await courier.cancel(id)).toBe(true);
  await waitFor(() => seen.some((e) => e.event === 'task:cancelled' && e.id === id), 10_000, `sentinel ${id}`);
}

const summary = (seen: Seen[], ids: string[]) =>
  seen
    .filter((e) => ids.includes(e.id))
    .map((e) => `${e.event} ${e.id}`)
    .sort();

describe('across processes: a `pgcourier worker` child runs the tasks', () => {
  let observer: Courier;
  let worker: WorkerProcess;
  let childWorkerId: string;

  beforeAll(async () => {
    observer = createCourier({ connectionString: databaseUrl(), schema: freshSchema('ev') });
    await observer.migrate();
    for (const def of DEFS) observer.registerTask(def);
    worker = await spawnWorker({ databaseUrl: databaseUrl(), schema: observer.schema, tasksFile: 'test/fixtures/event-tasks.ts', args: ['--poll-interval', '0.5'] });
    childWorkerId = /"workerId":"([^"]+)"/.exec(worker.log())?.[1] ?? '';
    expect(childWorkerId).toContain(`:${worker.child.pid}:`);
  });

  afterAll(async () => {
    worker?.kill('SIGTERM');
    await worker?.exited;
    await observer?.close({ grace: 0 });
  });

  it('waitForTask resolves with the final TaskInfo of a task another process ran, woken by NOTIFY', async () => {
    const id = await observer.enqueueTask(ok, {}, { runAt: new Date(Date.now() + 300) });
    const task = await observer.waitForTask<typeof ok>(id, { timeout: 30 });
    const resolvedAt = Date.now();
    expectTypeOf(task.result).toEqualTypeOf<{ pid: number } | null>();
    expect(task).toMatchObject({ id, name: 'ev_ok', status: 'succeeded', attempts: 1, result: { pid: worker.child.pid } });
    // The safety re-read runs every 5 s; a wake-up this soon after the write came from the NOTIFY.
    expect(resolvedAt - (task.finishedAt as Date).getTime()).toBeLessThan(3000);
  });

  it('waitForTask resolves for a task that failed, with its stored error and stack', async () => {
    const id = await observer.enqueueTask(boom, {});
    const task = await observer.waitForTask(id, { timeout: 30 });
    expect(task).toMatchObject({ status: 'failed', attempts: 1, lastError: expect.stringContaining('boom') });
    expect(task.errors).toHaveLength(1);
    expect(task.errors[0]).toMatchObject({ attempt: 1, message: expect.stringContaining('boom'), stack: expect.stringContaining('event-tasks.ts') });
    expect(typeof task.errors[0]?.at).toBe('string');
  });

  it('a non-worker courier sees each outcome of tasks run in the other process exactly once', async () => {
    const { seen, off } = await collect(observer);
    try {
      const [a, b, c] = await Promise.all([observer.enqueueTask(ok, {}), observer.enqueueTask(boom, {}), observer.enqueueTask(flaky, {})]);
      const held = await observer.enqueueTask(hold, {}, { runAt: later() });
      await observer.cancel(held);
      const finals = await Promise.all([a, b, c].map((id) => observer.waitForTask(id as string, { timeout: 30 })));
      expect(finals.map((t) => t.status)).toEqual(['succeeded', 'failed', 'succeeded']);
      await sentinel(observer, seen);
      const ids = [a, b, c, held] as string[];
      expect(summary(seen, ids)).toEqual([`task:cancelled ${held}`, `task:failed ${b}`, `task:retrying ${c}`, `task:succeeded ${a}`, `task:succeeded ${c}`].sort());
      const byKey = (event: string, id: string) => seen.find((e) => e.event === event && e.id === id);
      expect(byKey('task:succeeded', a as string)).toEqual({ event: 'task:succeeded', id: a, name: 'ev_ok', queue: 'default', attempt: 1, workerId: childWorkerId });
      expect(byKey('task:failed', b as string)).toMatchObject({ name: 'ev_boom', attempt: 1, workerId: childWorkerId, error: expect.stringContaining('boom') });
      expect(byKey('task:retrying', c as string)).toMatchObject({ name: 'ev_flaky', attempt: 1, workerId: childWorkerId, error: expect.stringContaining('first attempt') });
      expect(byKey('task:succeeded', c as string)).toMatchObject({ attempt: 2, workerId: childWorkerId });
      // Cancellation and lease rescue are announced without a publisher: no process ran anything.
      expect(byKey('task:cancelled', held)).toMatchObject({ name: 'ev_hold', workerId: null });
    } finally {
      off();
    }
  });
});

describe('in one process: separate couriers and pools', () => {
  let worker: Courier;
  let observer: Courier;

  beforeAll(async () => {
    const schema = freshSchema('ev');
    worker = createCourier({ connectionString: databaseUrl(), schema });
    observer = createCourier({ connectionString: databaseUrl(), schema });
    await worker.migrate();
    for (const def of DEFS) {
      worker.registerTask(def);
      observer.registerTask(def);
    }
    await worker.start({ concurrency: 4, lease: 3, pollInterval: 0.5, queues: ['default'] });
  });

  afterAll(async () => {
    await worker?.close({ grace: 0 });
    await observer?.close({ grace: 0 });
  });

  it('opens no LISTEN connection until waitForTask or a cluster listener needs one', async () => {
    const fresh = createCourier({ connectionString: databaseUrl(), schema: observer.schema });
    try {
      await fresh.getTask('1');
      expect(fresh.clusterEvents.listening).toBe(false);
      const off = fresh.clusterEvents.on('task:succeeded', () => {});
      await waitFor(() => fresh.clusterEvents.listening, 10_000, 'the LISTEN connection');
      off();
    } finally {
      await fresh.close();
    }
    expect(fresh.clusterEvents.listening).toBe(false);
  });

  it('waitForTask resolves with `cancelled` when another courier cancels the running task', async () => {
    const { seen, off } = await collect(observer);
    const id = await observer.enqueueTask(hold, {});
    await waitFor(async () => (await observer.getTask(id))?.status === 'running', 10_000, 'the task to start');
    const waiting = observer.waitForTask(id, { timeout: 30 });
    await waitFor(() => observer.clusterEvents.listening, 10_000, 'the LISTEN connection');
    expect((await observer.getTask(id))?.status).toBe('running');
    expect(await worker.cancel(id)).toBe(true);
    const task = await waiting;
    expect(task).toMatchObject({ id, status: 'cancelled' });
    expect(Date.now() - (task.finishedAt as Date).getTime()).toBeLessThan(3000);
    // The aborted handler's outcome is dropped by its fence, so nothing but the cancellation is announced.
    await waitFor(() => worker.health().active === 0, 10_000, 'the handler to abort');
    await sentinel(observer, seen);
    off();
    expect(summary(seen, [id])).toEqual([`task:cancelled ${id}`]);
  });

  it('waitForTask resolves at once for a task that is already final', async () => {
    const id = await observer.enqueueTask(ok, {});
    await observer.waitForTask(id, { timeout: 30 });
    await expect(observer.waitForTask(id, { timeout: 0.5 })).resolves.toMatchObject({ id, status: 'succeeded' });
  });

  it('waitForTask rejects with WaitTimeoutError naming the id when the task is not final in time', async () => {
    const id = await observer.enqueueTask(ok, {}, { runAt: later() });
    const started = Date.now();
    const err = await observer.waitForTask(id, { timeout: 0.3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WaitTimeoutError);
    expect(err).toMatchObject({ code: 'WAIT_TIMEOUT', taskId: id, timeout: 0.3, message: expect.stringContaining(`task ${id}`) });
    expect(Date.now() - started).toBeGreaterThanOrEqual(290);
    expect((await observer.getTask(id))?.status).toBe('queued');
  });

  it('waitForTask: NotFoundError for an unknown id, ValidationError naming the field for bad arguments', async () => {
    await expect(observer.waitForTask('987654321', { timeout: 5 })).rejects.toBeInstanceOf(NotFoundError);
    await expect(observer.waitForTask('not-an-id')).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringContaining('not-an-id') });
    await expect(observer.waitForTask(42 as unknown as string)).rejects.toMatchObject({ code: 'VALIDATION', field: 'id' });
    await expect(observer.waitForTask('1', { timeout: -1 })).rejects.toMatchObject({ code: 'VALIDATION', field: 'timeout' });
    await expect(observer.waitForTask('1', { timeout: Number.NaN })).rejects.toBeInstanceOf(ValidationError);
    await expect(observer.waitForTask('1', { timeot: 5 } as never)).rejects.toMatchObject({ code: 'VALIDATION', field: 'timeot' });
  });

  it('waitForTask stops on its AbortSignal, and on close() with a StateError', async () => {
    const id = await observer.enqueueTask(ok, {}, { runAt: later() });
    const controller = new AbortController();
    const aborted = observer.waitForTask(id, { timeout: 30, signal: controller.signal });
    controller.abort(new Error('no longer needed'));
    await expect(aborted).rejects.toThrow('no longer needed');
    const other = createCourier({ connectionString: databaseUrl(), schema: observer.schema });
    const pending = other.waitForTask(id, { timeout: 30 }).catch((e: unknown) => e);
    await waitFor(() => other.clusterEvents.listening, 10_000, 'the LISTEN connection');
    await other.close();
    expect(await pending).toBeInstanceOf(StateError);
  });

  it('the worker courier sees its own outcomes once (local events), and other processes see them too', async () => {
    const local = await collect(worker);
    const remote = await collect(observer);
    const localEvents: string[] = [];
    const offLocal = worker.events.on('task:succeeded', (e) => localEvents.push(e.id));
    try {
      const [a, c] = await Promise.all([observer.enqueueTask(ok, {}), observer.enqueueTask(flaky, {})]);
      // The worker's own waitForTask is woken by its own announcement.
      const [ownA] = await Promise.all([worker.waitForTask(a as string, { timeout: 30 }), observer.waitForTask(c as string, { timeout: 30 })]);
      expect(ownA.status).toBe('succeeded');
      await sentinel(observer, local.seen);
      await sentinel(observer, remote.seen);
      const expected = [`task:retrying ${c}`, `task:succeeded ${a}`, `task:succeeded ${c}`].sort();
      expect(summary(local.seen, [a, c] as string[])).toEqual(expected);
      expect(summary(remote.seen, [a, c] as string[])).toEqual(expected);
      expect(localEvents.filter((id) => id === a || id === c).sort()).toEqual([a, c].sort());
      for (const e of [...local.seen, ...remote.seen].filter((e) => e.id === a || e.id === c)) expect(e.workerId).toBe(worker.workerId);
    } finally {
      local.off();
      remote.off();
      offLocal();
    }
  });

  it('a task whose lease expired is announced by the rescuer as retrying, without a publisher', async () => {
    const { seen, off } = await collect(observer);
    try {
      const id = await observer.enqueueTask(ok, {}, { queue: 'unserved' });
      // Simulate a worker that claimed the task and died: running, lease long expired.
      await observer.pool.query(
        `UPDATE "${observer.schema}".tasks SET status = 'running', attempts = 1, lease_token = gen_random_uuid(),
                locked_by = 'gone', locked_until = now() - interval '1 minute' WHERE id = $1`,
        [id],
      );
      // This courier's rescue round, or the worker's own rescuer, whichever comes first.
      await observer.runMaintenance();
      await waitFor(async () => (await observer.getTask(id))?.status === 'queued', 10_000, 'the rescue');
      await sentinel(observer, seen);
      expect(seen.filter((e) => e.id === id)).toEqual([{ event: 'task:retrying', id, name: 'ev_ok', queue: 'unserved', attempt: 1, workerId: null, error: expect.stringContaining('lease expired') }]);
    } finally {
      off();
    }
  });
});
