import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Courier, type CourierEventMap, createCourier } from '../../src/index.js';
import { databaseUrl, testCourier, waitFor } from '../helpers/db.js';
import { createAuditTable, spawnWorker } from '../helpers/workers.js';

let courier: Courier;
beforeAll(async () => {
  courier = await testCourier();
  courier.registerTask('ok', () => 'fine');
  courier.registerTask('bad', () => {
    throw new Error('nope');
  });
});
afterAll(() => courier.close({ grace: 0 }));

describe('events, metrics, health', () => {
  it('emits typed lifecycle events and counts them in metrics', async () => {
    const seen: Array<[keyof CourierEventMap, unknown]> = [];
    for (const e of ['task:enqueued', 'task:started', 'task:succeeded', 'task:failed', 'task:retrying'] as const) {
      courier.events.on(e, (p) => seen.push([e, p]));
    }
    const ok = await courier.enqueueTask('ok', {});
    const bad = await courier.enqueueTask('bad', {}, { maxRetries: 1, retryDelay: 0 });
    await courier.drain();
    expect(seen).toContainEqual(['task:enqueued', { ids: [ok] }]);
    expect(seen).toContainEqual(['task:succeeded', expect.objectContaining({ id: ok, name: 'ok', queue: 'default', attempt: 1 })]);
    expect(seen).toContainEqual(['task:retrying', expect.objectContaining({ id: bad, attempt: 1, error: 'Error: nope' })]);
    expect(seen).toContainEqual(['task:failed', expect.objectContaining({ id: bad, attempt: 2, error: 'Error: nope' })]);
    const m = await courier.metrics();
    expect(m.queues.default).toMatchObject({ succeeded: 1, failed: 1, queued: 0 });
    expect(m.queues.default?.throughput).toBeGreaterThan(0);
    expect(m.process).toMatchObject({ enqueued: 2, started: 3, succeeded: 1, failed: 1, retried: 1 });
    const text = await courier.metricsText();
    expect(text).toContain('pgcourier_tasks{queue="default",status="succeeded"} 1');
    expect(text).toContain('# TYPE pgcourier_process_succeeded_total counter');
  });

  it('reports the oldest queued age', async () => {
    const c = await testCourier();
    c.registerTask('ok', () => {});
    await c.enqueueTask('ok', {}, { runAt: new Date(Date.now() - 30_000) });
    const m = await c.metrics();
    expect(m.queues.default?.oldestQueuedAge).toBeGreaterThanOrEqual(29);
    await c.close();
  });

  it('health() reports a running, listening, heartbeating processor', async () => {
    const c = await testCourier();
    c.registerTask('ok', () => {});
    expect(c.health().ok).toBe(false);
    await c.start({ pollInterval: 0.1, lease: 1.5 });
    await waitFor(() => c.health().ok, 3000, 'healthy');
    expect(c.health()).toMatchObject({ running: true, listening: true, claiming: true, beating: true });
    await c.stop();
    expect(c.health()).toMatchObject({ ok: false, running: false });
    await c.close();
  });
});

describe('worker registry', () => {
  it('lists live workers; a SIGKILLed one shows dead within 3 heartbeats, a live one never does', async () => {
    const c = await testCourier();
    await createAuditTable(c.pool, c.schema);
    const args = ['--lease', '1.5', '--poll-interval', '0.5'];
    const doomed = await spawnWorker({ databaseUrl: databaseUrl(), schema: c.schema, args });
    const survivor = await spawnWorker({ databaseUrl: databaseUrl(), schema: c.schema, args });
    const byPid = async (pid: number | undefined) => (await c.workers()).find((w) => w.pid === pid);
    expect(await byPid(doomed.child.pid)).toMatchObject({ state: 'alive', heartbeatInterval: 0.5, concurrency: 10 });
    doomed.kill('SIGKILL');
    await doomed.exited;
    const killedAt = Date.now();
    await waitFor(async () => (await byPid(doomed.child.pid))?.state === 'dead', 5000, 'the dead worker');
    expect(Date.now() - killedAt).toBeLessThan(3 * 500 + 1500);
    // The survivor stays alive through several more intervals.
    for (let i = 0; i < 4; i++) {
      expect((await byPid(survivor.child.pid))?.state).toBe('alive');
      await new Promise((r) => setTimeout(r, 500));
    }
    survivor.kill('SIGTERM');
    expect(await survivor.exited).toBe(0);
    expect((await byPid(survivor.child.pid))?.state).toBe('stopped');
    await c.close();
  });
});

describe('live running counts', () => {
  it('workers() shows a started handler within about a second, not at the next heartbeat (10 s here)', async () => {
    const c = await testCourier();
    let release: () => void = () => {};
    const held = new Promise<void>((r) => (release = r));
    let started = false;
    c.registerTask('hold', async () => {
      started = true;
      await held;
    });
    await c.start({ concurrency: 4, lease: 30 });
    const mine = async () => (await c.workers()).find((w) => w.id === c.workerId);
    expect(await mine()).toMatchObject({ running: 0, concurrency: 4 });
    await c.enqueueTask('hold', {});
    await waitFor(() => started, 5000, 'the handler to start');
    await waitFor(async () => (await mine())?.running === 1, 3000, 'running 1 in workers()');
    release();
    await waitFor(async () => (await mine())?.running === 0, 3000, 'running 0 in workers()');
    await c.close();
  });
});

describe('cleanup', () => {
  it('deletes 200,000 old finished tasks in batches while enqueue and claim keep working', async () => {
    const c = await testCourier();
    c.registerTask('ok', () => {});
    const s = `"${c.schema}".tasks`;
    await c.pool.query(
      `INSERT INTO ${s} (name, status, attempts, finished_at, created_at)
       SELECT 'ok', (ARRAY['succeeded','failed','cancelled'])[1 + g % 3], 1, now() - interval '8 days', now() - interval '8 days'
         FROM generate_series(1, 200000) g`,
    );
    await c.pool.query(`INSERT INTO ${s} (name, status, finished_at) SELECT 'ok', 'succeeded', now() - interval '1 day' FROM generate_series(1, 10)`);
    // Concurrent traffic with a 1 s lock timeout: any statement waiting longer fails the test.
    const traffic = createCourier({ connectionString: `${databaseUrl()}?options=-c%20lock_timeout%3D1000`, schema: c.schema });
    traffic.registerTask('ok', () => {});
    let stop = false;
    let cycles = 0;
    const load = (async () => {
      while (!stop) {
        await traffic.enqueueMany(Array.from({ length: 20 }, () => ({ name: 'ok', payload: {} })));
        await traffic.runOnce({ limit: 20, concurrency: 20 });
        cycles++;
      }
    })();
    const progress: number[] = [];
    const deleted = await c.cleanup({ batchSize: 5000, onProgress: (n) => progress.push(n) });
    stop = true;
    await load;
    expect(deleted).toBe(200_000);
    expect(progress.length).toBeGreaterThanOrEqual(40); // bounded batches, not one statement
    expect(cycles).toBeGreaterThan(0);
    const { rows } = await c.pool.query(`SELECT count(*) AS n FROM ${s} WHERE finished_at < now() - interval '7 days'`);
    expect(rows[0].n).toBe('0');
    const recent = await c.pool.query(`SELECT count(*) AS n FROM ${s} WHERE finished_at = (SELECT min(finished_at) FROM ${s} WHERE finished_at > now() - interval '2 days')`);
    expect(Number(recent.rows[0].n)).toBeGreaterThan(0); // younger than retention: kept
    expect(await c.cleanup({ statuses: ['failed'], olderThan: 3600 })).toBe(0);
    await expect(c.cleanup({ statuses: ['queued' as never] })).rejects.toMatchObject({ field: 'statuses.0' });
    await traffic.close();
    await c.close();
  }, 120_000);

  it('runs as the built-in cleanup task with per-status retention', async () => {
    const c = await testCourier();
    const s = `"${c.schema}".tasks`;
    await c.pool.query(`INSERT INTO ${s} (name, status, finished_at) VALUES ('x', 'succeeded', now() - interval '2 hours'), ('x', 'failed', now() - interval '2 hours')`);
    const id = await c.enqueueTask('pgcourier.cleanup', { olderThan: 86_400, retention: { succeeded: 3600 } });
    await c.drain();
    expect(await c.getTask(id)).toMatchObject({ status: 'succeeded', result: { deleted: 1 } });
    await c.close();
  });
});
