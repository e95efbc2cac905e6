import { afterEach, describe, expect, it } from 'vitest';
import type { Courier } from '../../src/index.js';
import { testCourier, waitFor } from '../helpers/db.js';

const open: Courier[] = [];
const make = async () => {
  const c = await testCourier();
  open.push(c);
  return c;
};
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c.close({ grace: 0 })));
});

function deferred() {
  let resolve!: () => void;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('wake-up', () => {
  it('an idle worker with a 60 s poll interval starts a new task within 1 s (NOTIFY)', async () => {
    const c = await make();
    let startedAt = 0;
    c.registerTask('ping', () => void (startedAt = Date.now()));
    await c.start({ pollInterval: 60 });
    await new Promise((r) => setTimeout(r, 200)); // let the start-up claim pass: only NOTIFY can wake it now
    const enqueuedAt = Date.now();
    const id = await c.enqueueTask('ping', {});
    await waitFor(async () => (await c.getTask(id))?.status === 'succeeded', 1000, 'the NOTIFY wake-up');
    expect(startedAt - enqueuedAt).toBeLessThan(1000);
  });

  it('with a 60 s poll interval, a delayed task starts at its runAt: the enqueue announced when it becomes due', async () => {
    const c = await make();
    let startedAt = 0;
    c.registerTask('ping', () => void (startedAt = Date.now()));
    await c.start({ pollInterval: 60 });
    await new Promise((r) => setTimeout(r, 200)); // the start-up claim has passed; no poll comes for 60 s
    const runAt = new Date(Date.now() + 700);
    const id = await c.enqueueTask('ping', {}, { runAt });
    await waitFor(async () => (await c.getTask(id))?.status === 'succeeded', 3000, 'the due-time wake-up');
    expect(startedAt).toBeGreaterThanOrEqual(runAt.getTime());
    expect(startedAt - runAt.getTime()).toBeLessThan(1000);
  });

  it('with a 60 s poll interval, a retry runs when its backoff ends: the worker wakes for what it rescheduled', async () => {
    const c = await make();
    const starts: number[] = [];
    c.registerTask('flaky', () => {
      starts.push(Date.now());
      if (starts.length === 1) throw new Error('first attempt fails');
    });
    await c.start({ pollInterval: 60 });
    const id = await c.enqueueTask('flaky', {}, { retryDelay: 0.5, maxRetries: 1 });
    await waitFor(async () => (await c.getTask(id))?.status === 'succeeded', 4000, 'the retry');
    expect(starts).toHaveLength(2);
    expect((starts[1] as number) - (starts[0] as number)).toBeGreaterThanOrEqual(500);
  });

  it('a worker serving other queues ignores the task; one serving its queue runs it', async () => {
    const c = await make();
    c.registerTask('ping', () => {});
    await c.start({ queues: ['email'], pollInterval: 0.05 });
    const other = await c.enqueueTask('ping', {}, { queue: 'sms' });
    const mine = await c.enqueueTask('ping', {}, { queue: 'email' });
    await waitFor(async () => (await c.getTask(mine))?.status === 'succeeded', 2000);
    await new Promise((r) => setTimeout(r, 200));
    expect((await c.getTask(other))?.status).toBe('queued');
  });
});

describe('graceful stop', () => {
  it('lets a 2 s handler finish within the grace period', async () => {
    const c = await make();
    const started = deferred();
    c.registerTask('two_seconds', async () => {
      started.resolve();
      await new Promise((r) => setTimeout(r, 2000));
      return 'finished';
    });
    const id = await c.enqueueTask('two_seconds', {});
    await c.start({ pollInterval: 0.05 });
    await started.promise;
    await c.stop({ grace: 5 });
    expect(await c.getTask(id)).toMatchObject({ status: 'succeeded', result: 'finished', attempts: 1 });
  });

  it('with a shorter grace aborts the handler through ctx.signal and puts the task back', async () => {
    const c = await make();
    const started = deferred();
    let aborted: unknown;
    c.registerTask('two_seconds', async (_p, ctx) => {
      if (ctx.attempt > 1) return 'second run';
      started.resolve();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2000);
        ctx.signal.addEventListener('abort', () => {
          aborted = ctx.signal.reason;
          clearTimeout(t);
          resolve();
        });
      });
      return 'should be dropped';
    });
    const id = await c.enqueueTask('two_seconds', {});
    await c.start({ pollInterval: 0.05 });
    await started.promise;
    const t0 = Date.now();
    await c.stop({ grace: 0.3 });
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(aborted).toMatchObject({ name: 'ShutdownError' });
    const released = await c.getTask(id);
    expect(released).toMatchObject({ status: 'queued', attempts: 1, result: null });
    expect(released?.errors[0]?.message).toMatch(/interrupted/);
    // Retried later, not lost:
    await c.drain();
    expect(await c.getTask(id)).toMatchObject({ status: 'succeeded', result: 'second run' });
  });
});

describe('prefetch', () => {
  it('holds claimed tasks beyond concurrency and hands them back untouched on stop', async () => {
    const c = await make();
    const started = deferred();
    const ran: string[] = [];
    c.registerTask('blocker', async (_p, ctx) => {
      ran.push(ctx.taskId);
      started.resolve();
      await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
    });
    const ids = await c.enqueueMany(Array.from({ length: 4 }, () => ({ name: 'blocker', payload: {} })));
    await c.start({ concurrency: 1, prefetch: 3, pollInterval: 60 });
    await started.promise;
    // One runs; the other three are claimed (leased) and wait in this process.
    await waitFor(async () => (await c.queueStatus()).total.running === 4, 2000, 'the prefetch claim');
    expect(ran).toHaveLength(1);
    await c.stop({ grace: 0.1 });
    const tasks = await Promise.all(ids.map((id) => c.getTask(id)));
    for (const t of tasks) expect(t?.status).toBe('queued');
    const waiting = tasks.filter((t) => t?.id !== ran[0]);
    // Never started: no attempt used, no error recorded.
    for (const t of waiting) expect(t).toMatchObject({ attempts: 0, errors: [] });
    expect(tasks.find((t) => t?.id === ran[0])).toMatchObject({ attempts: 1, errors: [expect.objectContaining({ message: expect.stringMatching(/interrupted/) })] });
  });
});

describe('fencing', () => {
  it('a zombie attempt whose lease was rescued cannot overwrite the newer attempt', async () => {
    const zombie = await make();
    const release = deferred();
    const started = deferred();
    zombie.registerTask('fenced', async (_p, ctx) => {
      started.resolve();
      await release.promise;
      return `zombie attempt ${ctx.attempt}`;
    });
    const id = await zombie.enqueueTask('fenced', {});
    // One slot, held by the stalled handler: the zombie cannot claim the task again.
    await zombie.start({ concurrency: 1, prefetch: 0, pollInterval: 60, lease: 30 });
    await started.promise;
    // The zombie's lease runs out (as if its process stalled); a rescuer requeues it
    // (this call, or the zombie's own maintenance if its start-up tick is late).
    const table = `"${zombie.schema}".tasks`;
    await zombie.pool.query(`UPDATE ${table} SET locked_until = now() - interval '1 second' WHERE id = $1`, [id]);
    // The zombie's own rescuer may hold the rescue lock at that moment with a
    // statement that began before the update: run maintenance until it is ours.
    await waitFor(
      async () => {
        await zombie.runMaintenance();
        return (await zombie.getTask(id))?.status === 'queued';
      },
      10_000,
      'the rescue',
    );
    expect(await zombie.getTask(id)).toMatchObject({ status: 'queued', attempts: 1, lastError: expect.stringMatching(/lease expired/) });
    // A newer attempt, through another courier on the same schema, succeeds.
    const { createCourier } = await import('../../src/index.js');
    const rescuer = createCourier({ pool: zombie.pool, schema: zombie.schema });
    rescuer.registerTask('fenced', (_p, ctx) => `attempt ${ctx.attempt}`);
    expect(await rescuer.runOnce()).toBe(1);
    release.resolve();
    await zombie.stop({ grace: 5 });
    expect(await zombie.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 2, result: 'attempt 2' });
  });

  it('cancelling a running task aborts its handler at the next lease renewal and drops its result', async () => {
    const c = await make();
    const started = deferred();
    let reason: unknown;
    c.registerTask('long', async (_p, ctx) => {
      started.resolve();
      await new Promise<void>((r) => ctx.signal.addEventListener('abort', () => r()));
      reason = ctx.signal.reason;
      return 'ignored';
    });
    const id = await c.enqueueTask('long', {});
    await c.start({ pollInterval: 60, lease: 0.6 });
    await started.promise;
    expect(await c.cancel(id)).toBe(true);
    await waitFor(() => reason, 3000, 'the abort');
    expect(reason).toMatchObject({ name: 'LeaseLostError' });
    expect(await c.getTask(id)).toMatchObject({ status: 'cancelled', result: null });
  });

  it('renews the lease of a handler that runs longer than the lease', async () => {
    const c = await make();
    c.registerTask('longer_than_lease', async () => {
      await new Promise((r) => setTimeout(r, 1600));
      return 'kept';
    });
    const id = await c.enqueueTask('longer_than_lease', {});
    await c.start({ pollInterval: 0.05, lease: 0.5 });
    await waitFor(async () => (await c.getTask(id))?.status === 'succeeded', 5000);
    expect(await c.getTask(id)).toMatchObject({ attempts: 1, result: 'kept' });
  });
});

describe('an outdated schema', () => {
  it('a worker on a schema migrated before 046 reports NOT_MIGRATED naming the missing claim function, and runs nothing', async () => {
    const c = await make();
    await c.pool.query(`DROP FUNCTION ${c.names.schema}.claim_tasks`);
    let ran = 0;
    c.registerTask('ping', () => void ran++);
    const errors: Array<{ code?: string; message: string }> = [];
    c.events.on('worker:error', ({ error }) => errors.push(error as { code?: string; message: string }));
    await c.enqueueTask('ping', {});
    await c.start();
    const error = await waitFor(() => errors.find((e) => e.code === 'NOT_MIGRATED'), 5000, 'a NOT_MIGRATED worker error');
    expect(error.message).toMatch(/migrated by an older pgcourier and lacks claim_tasks\(\).*run courier\.migrate\(\)/);
    expect(ran).toBe(0);
  });
});

describe('the statistics check', () => {
  it('runs ANALYZE after three slow claims in a row, not after the first', async () => {
    const c = await make();
    const t = c.names.tasks;
    // Stale statistics (never analysed, past 64 kB) and no autovacuum to fix them first.
    await c.pool.query(`ALTER TABLE ${t} SET (autovacuum_enabled = false)`);
    await c.pool.query(`INSERT INTO ${t} (name, payload) SELECT 'other', jsonb_build_object('pad', repeat('x', 200)) FROM generate_series(1, 2000)`);
    let ran = 0;
    c.registerTask('ping', () => void ran++);
    await c.start({ pollInterval: 60 });
    // One fast round first: the start-up claims are over, and from here the worker claims only when an enqueue wakes it.
    await c.enqueueTask('ping', { i: 0 });
    await waitFor(() => ran === 1, 5000, 'the first task');
    const locker = await c.pool.connect();
    const lastAnalyze = async () => (await c.pool.query(`SELECT last_analyze FROM pg_stat_user_tables WHERE relid = '${t}'::regclass`)).rows[0]?.last_analyze as Date | null;
    try {
      let beforeThird: Date | undefined;
      for (let i = 1; i <= 3; i++) {
        if (i === 3) beforeThird = (await c.pool.query<{ now: Date }>('SELECT clock_timestamp() AS now')).rows[0]!.now;
        // The claim reads the queues table: holding it locked makes the claim this enqueue wakes wait (> 50 ms).
        await locker.query('BEGIN');
        await locker.query(`LOCK TABLE ${c.names.queues} IN ACCESS EXCLUSIVE MODE`);
        await c.enqueueTask('ping', { i });
        await new Promise((r) => setTimeout(r, 150));
        await locker.query('COMMIT');
        await waitFor(() => ran === i + 1, 5000, `task ${i}`);
      }
      const analysed = await waitFor(lastAnalyze, 5000, 'the ANALYZE after the third slow claim');
      expect(analysed.getTime()).toBeGreaterThanOrEqual(beforeThird!.getTime());
    } finally {
      locker.release();
    }
  });
});
