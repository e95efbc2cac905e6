import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { type Courier, createCourier, defineTask } from '../../src/index.js';
import { databaseUrl, testCourier, waitFor } from '../helpers/db.js';

let courier: Courier;
beforeAll(async () => {
  courier = await testCourier();
});
afterAll(() => courier.close({ grace: 0 }));

/** A second "process": another courier (own pool, own processor) on the same schema. */
function peer(): Courier {
  return createCourier({ connectionString: databaseUrl(), schema: courier.schema });
}

describe('rate limiter', () => {
  it('grants at most `limit` in any window, across couriers, and says how long to wait', async () => {
    const a = courier.rateLimiter('test:window', '3/s');
    const other = peer();
    const b = other.rateLimiter('test:window', { limit: 3, per: 1 });
    const results = await Promise.all(Array.from({ length: 8 }, (_, i) => (i % 2 ? a : b).acquire()));
    expect(results.filter((r) => r.granted)).toHaveLength(3);
    const denied = results.find((r) => !r.granted);
    expect(denied).toMatchObject({ granted: false });
    expect((denied as { retryAfter: number }).retryAfter).toBeGreaterThan(0);
    expect((denied as { retryAfter: number }).retryAfter).toBeLessThanOrEqual(1.05); // the window plus its safety margin
    await other.close();
  });

  it('rejects bad specs naming the field', () => {
    expect(() => courier.rateLimiter('k', '5/x' as never)).toThrow(/rateLimit/);
    expect(() => courier.rateLimiter('k', { limit: 0, per: 1 })).toThrow(/limit/);
    expect(() => courier.rateLimiter('', '5/s')).toThrow(/key/);
  });
});

describe('queue settings', () => {
  it('configures, lists, pauses and resumes', async () => {
    await courier.configureQueue('reports', { concurrency: 2, rateLimit: '100/m' });
    await courier.pauseQueue('reports');
    const [q] = (await courier.listQueues()).filter((x) => x.name === 'reports');
    expect(q).toMatchObject({ name: 'reports', paused: true, concurrency: 2, rateLimit: { limit: 100, per: 60 } });
    await courier.configureQueue('reports', { concurrency: null, rateLimit: null });
    await courier.resumeQueue('reports');
    const [r] = (await courier.listQueues()).filter((x) => x.name === 'reports');
    expect(r).toMatchObject({ paused: false, concurrency: null, rateLimit: null });
    await expect(courier.configureQueue('reports', { concurrency: 0 })).rejects.toMatchObject({ field: 'concurrency' });
    await expect(courier.configureQueue('bad queue!', {})).rejects.toMatchObject({ field: 'name' });
  });

  it('pausing or resuming a queue that does not exist throws NotFoundError and creates nothing', async () => {
    const before = (await courier.listQueues()).map((q) => q.name);
    for (const act of [() => courier.pauseQueue('no_such_queue'), () => courier.resumeQueue('no_such_queue')]) {
      await expect(act()).rejects.toMatchObject({ name: 'NotFoundError', code: 'NOT_FOUND', message: expect.stringMatching(/queue "no_such_queue" does not exist/) });
    }
    expect((await courier.listQueues()).map((q) => q.name)).toEqual(before);
    await expect(courier.pauseQueue('bad queue!')).rejects.toMatchObject({ name: 'ValidationError', field: 'name' });
    // A queue exists once a task names it (in any state), it has settings, or a task registered here uses it.
    courier.registerTask(defineTask({ name: 'registered_only', queue: 'registered_queue', payload: z.object({}) }));
    await expect(courier.pauseQueue('registered_queue')).resolves.toMatchObject({ name: 'registered_queue', paused: true });
    const id = await courier.enqueueTask('registered_only', {}, { queue: 'holds_tasks' });
    await courier.cancel(id);
    await expect(courier.pauseQueue('holds_tasks')).resolves.toMatchObject({ paused: true });
    await courier.configureQueue('configured_only', { concurrency: 3 });
    await expect(courier.resumeQueue('configured_only')).resolves.toMatchObject({ paused: false, concurrency: 3 });
  });

  it('a paused queue starts nothing on any process until resumed', async () => {
    const c1 = peer();
    const c2 = peer();
    const ran: string[] = [];
    for (const c of [c1, c2]) c.registerTask('paused_work', (_p, ctx) => void ran.push(ctx.taskId));
    courier.registerTask('paused_work', () => {});
    await Promise.all([c1.start({ pollInterval: 0.1 }), c2.start({ pollInterval: 0.1 })]);
    // A queue with no task yet is paused ahead through its settings (pauseQueue() refuses unknown queues).
    await courier.configureQueue('pausable', { paused: true });
    const pausedAt = Date.now();
    const ids = await courier.enqueueMany(Array.from({ length: 5 }, () => ({ name: 'paused_work', payload: {}, options: { queue: 'pausable' } })));
    // Several poll cycles on both processes pass without a start.
    await waitFor(() => Date.now() - pausedAt > 1000, 2000);
    expect(ran).toEqual([]);
    await courier.resumeQueue('pausable');
    await waitFor(() => ran.length === 5, 5000, 'resumed tasks');
    expect(new Set(ran)).toEqual(new Set(ids));
    await Promise.all([c1.close(), c2.close()]);
  });

  it('a queue capped at concurrency 2 never runs more than 2 across 3 processes', async () => {
    await courier.configureQueue('capped', { concurrency: 2 });
    const couriers = [peer(), peer(), peer()];
    let running = 0;
    let peak = 0;
    for (const c of couriers) {
      c.registerTask('slow_report', async () => {
        running++;
        peak = Math.max(peak, running);
        await new Promise((r) => setTimeout(r, 50));
        running--;
      });
    }
    courier.registerTask('slow_report', () => {});
    await courier.enqueueMany(Array.from({ length: 30 }, () => ({ name: 'slow_report', payload: {}, options: { queue: 'capped' } })));
    await Promise.all(couriers.map((c) => c.start({ concurrency: 5, pollInterval: 0.05 })));
    let tablePeak = 0;
    await waitFor(async () => {
      const { rows } = await courier.pool.query(`SELECT count(*) FILTER (WHERE status = 'running') AS r, count(*) FILTER (WHERE status = 'succeeded') AS s FROM "${courier.schema}".tasks WHERE queue = 'capped'`);
      tablePeak = Math.max(tablePeak, Number(rows[0].r));
      return Number(rows[0].s) === 30;
    }, 30_000, 'capped tasks');
    expect(peak).toBeLessThanOrEqual(2);
    expect(peak).toBe(2); // the cap is used, not just respected
    expect(tablePeak).toBeLessThanOrEqual(2);
    await Promise.all(couriers.map((c) => c.close()));
  });

  it('a rate-limited task waits for a grant without losing an attempt', async () => {
    const starts: number[] = [];
    const limited = defineTask({
      name: 'limited_send',
      rateLimit: '4/s',
      maxRetries: 0,
      handler: () => void starts.push(Date.now()),
    });
    const couriers = [peer(), peer()];
    for (const c of couriers) c.registerTask(limited);
    courier.registerTask(limited);
    const ids = await courier.enqueueMany(Array.from({ length: 12 }, () => ({ name: 'limited_send', payload: {} })));
    await Promise.all(couriers.map((c) => c.start({ concurrency: 6, pollInterval: 0.05 })));
    await waitFor(async () => {
      const { rows } = await courier.pool.query(`SELECT count(*) AS n FROM "${courier.schema}".tasks WHERE name = 'limited_send' AND status = 'succeeded'`);
      return rows[0].n === '12';
    }, 20_000, 'rate-limited tasks');
    await Promise.all(couriers.map((c) => c.close()));
    starts.sort((a, b) => a - b);
    // 12 starts at 4/s: the 5th cannot come before a second has passed since the 1st, and so on.
    for (let i = 4; i < starts.length; i++) expect((starts[i] as number) - (starts[i - 4] as number)).toBeGreaterThanOrEqual(950); // starts trail their grants by a few ms
    for (const id of ids) expect(await courier.getTask(id)).toMatchObject({ status: 'succeeded', attempts: 1 });
  });
});
