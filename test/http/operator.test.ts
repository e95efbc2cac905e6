// The operator's endpoints behind the dashboard: the filtered task list with
// sorts and counts, task detail with its attempt timeline, bulk actions (dry run,
// by ids, by filter, in batches), queue limits, schedule previews and the
// per-minute history rollup.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import type { CourierHttpHandler } from '../../src/http/index.js';
import { type Courier, defineTask } from '../../src/index.js';
import { readHistory, rollUpHistory } from '../../src/maintenance/history.js';
import { bulkTaskAction } from '../../src/task-list.js';
import { apiCourier, BASE, call, expectProblem, flakySwitch, listen } from './helpers.js';

let courier: Courier;
let api: CourierHttpHandler;

const get = (path: string) => call(api, 'GET', `${BASE}${path}`);
const post = (path: string, body?: unknown) => call(api, 'POST', `${BASE}${path}`, body === undefined ? {} : { body });
async function json(res: Response, status: number): Promise<any> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  return JSON.parse(text);
}
const ids = (page: { tasks: { id: string }[] }) => page.tasks.map((t) => t.id);

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
  courier.registerTask(
    defineTask({
      name: 'import_rows',
      queue: 'imports',
      maxRetries: 1,
      retryDelay: 0,
      payload: z.object({ fail: z.boolean().optional() }),
      async handler(payload) {
        if (payload.fail) throw new Error(`row 17 is not valid CSV`);
        return { rows: 3 };
      },
    }),
  );
});
afterAll(async () => {
  await courier.close();
});

describe('task list', () => {
  it('filters by queue, name, status and sub-state, searches key and error, and sorts three ways with stable cursors', async () => {
    const a = await courier.enqueueTask('import_rows', { fail: true }, { key: 'customer-4711', priority: 3 });
    const b = await courier.enqueueTask('import_rows', {}, { priority: 1 });
    const c = await courier.enqueueTask('import_rows', {}, { priority: 3, delay: 3600 });
    await courier.drain();
    // a failed twice (maxRetries 1), b succeeded, c waits an hour
    const failed = await json(await get('/tasks?queue=imports&status=failed'), 200);
    expect(ids(failed)).toEqual([a]);
    expect(failed.tasks[0].lastError).toBe('Error: row 17 is not valid CSV');
    expect(ids(await json(await get('/tasks?queue=imports&status=delayed'), 200))).toEqual([c]);
    expect(ids(await json(await get('/tasks?name=import_rows&q=CSV'), 200))).toEqual([a]);
    expect(ids(await json(await get('/tasks?name=import_rows&q=4711'), 200))).toEqual([a]);
    expect(ids(await json(await get(`/tasks?q=${b}`), 200))).toEqual([b]);
    expect(ids(await json(await get('/tasks?name=import_rows&q=100%25'), 200))).toEqual([]);
    expect(ids(await json(await get('/tasks?queue=imports'), 200))).toEqual([c, b, a]);
    expect(ids(await json(await get('/tasks?queue=imports&sort=oldest'), 200))).toEqual([a, b, c]);

    // Priority is the claim order: it lists live tasks (finished ones sort by time).
    expect(ids(await json(await get('/tasks?queue=imports&sort=priority'), 200))).toEqual([c]);
    await expectProblem(await get('/tasks?queue=imports&status=failed&sort=priority'), 400, 'sort');
    const later = { queue: 'imports_later' };
    const d = await courier.enqueueTask('import_rows', {}, { ...later, priority: 3, delay: 3600 });
    const e = await courier.enqueueTask('import_rows', {}, { ...later, priority: 2, delay: 3600 });
    const f = await courier.enqueueTask('import_rows', {}, { ...later, priority: 3, delay: 1800 });
    const first = await json(await get('/tasks?queue=imports_later&sort=priority&limit=1'), 200);
    expect(ids(first)).toEqual([e]);
    const second = await json(await get(`/tasks?queue=imports_later&sort=priority&limit=1&cursor=${first.nextCursor}`), 200);
    const third = await json(await get(`/tasks?queue=imports_later&sort=priority&limit=1&cursor=${second.nextCursor}`), 200);
    expect([...ids(second), ...ids(third)]).toEqual([f, d]); // same priority: due first
    expect(third.nextCursor).toBeNull();
    expect(ids(await json(await get('/tasks?queue=imports_later&q=import&sort=priority'), 200))).toEqual([]);
    expect(ids(await json(await get(`/tasks?queue=imports_later&q=${d}&sort=priority`), 200))).toEqual([d]);
    await expectProblem(await get(`/tasks?sort=priority&cursor=${b}`), 400, 'cursor');
  });

  it('counts per status and sub-state for a filter, with the table\'s statuses and the known queues and names', async () => {
    const body = await json(await get('/tasks/counts?queue=imports'), 200);
    expect(body.counts).toMatchObject({ failed: 1, succeeded: 1, queued: 1, delayed: 1, retrying: 0, running: 0, cancelled: 0, total: 3 });
    expect(body.statuses).toEqual(expect.arrayContaining(['queued', 'running', 'succeeded', 'failed', 'cancelled']));
    expect(body.queues).toEqual(expect.arrayContaining(['imports', 'email']));
    expect(body.names).toEqual(expect.arrayContaining(['import_rows', 'send_welcome']));
    const since = Date.now() + 60_000;
    expect((await json(await get(`/tasks/counts?queue=imports&createdAfter=${since}`), 200)).counts.total).toBe(0);
  });
});

describe('task detail', () => {
  it('shows payload, every attempt with its worker, times, error and stack, and the retry policy', async () => {
    const id = await courier.enqueueTask('import_rows', { fail: true }, { backoff: 'fixed' });
    await courier.drain();
    const t = await json(await get(`/tasks/${id}`), 200);
    expect(t).toMatchObject({ id, status: 'failed', payload: { fail: true }, attempts: 2, retryPolicy: { maxRetries: 1, retryDelay: 0, backoff: 'fixed', maxDelay: null, timeout: null } });
    expect(t.attemptTimeline).toHaveLength(2);
    for (const [i, a] of t.attemptTimeline.entries()) {
      expect(a).toMatchObject({ attempt: i + 1, outcome: 'failed', worker: courier.workerId, error: { message: 'Error: row 17 is not valid CSV' } });
      expect(a.error.stack).toMatch(/row 17 is not valid CSV\n\s+at /);
      expect(Date.parse(a.endedAt)).toBeGreaterThanOrEqual(Date.parse(a.startedAt));
      expect(a.durationMs).toBe(Date.parse(a.endedAt) - Date.parse(a.startedAt));
    }
  });

  it('ends the timeline with the successful attempt', async () => {
    const id = await courier.enqueueTask('send_welcome', { userId: 9 });
    await courier.drain();
    const t = await json(await get(`/tasks/${id}`), 200);
    expect(t.attemptTimeline).toEqual([expect.objectContaining({ attempt: 1, outcome: 'succeeded', error: null })]);
    expect(t.result).toEqual({ sent: true, userId: 9 });
  });
});

describe('bulk actions', () => {
  it('dry-runs, then retries every failed task a filter matches, in batches, leaving the rest alone', async () => {
    flakySwitch.fail = true;
    const failed = await courier.enqueueMany(Array.from({ length: 7 }, (_, i) => ({ name: 'flaky', payload: { i } })));
    const other = await courier.enqueueTask('fail_always', {});
    await courier.drain();
    const dry = await json(await post('/tasks/actions', { action: 'retry', filter: { name: 'flaky', status: 'failed' }, dryRun: true }), 200);
    expect(dry).toEqual({ action: 'retry', count: 7, dryRun: true, batches: 1, skipped: 0 });
    expect((await courier.getTask(failed[0] as string))?.status).toBe('failed');
    // Batches of 3 through the core function: 7 rows take three statements.
    const done = await bulkTaskAction(courier.pool, courier.names, 'retry', { filter: { name: 'flaky', status: 'failed' } }, { batchSize: 3 });
    expect(done).toMatchObject({ count: 7, batches: 3, dryRun: false });
    for (const id of failed) expect((await courier.getTask(id))?.status).toBe('queued');
    expect((await courier.getTask(other))?.status).toBe('failed');
    flakySwitch.fail = false;
    await courier.drain();
    for (const id of failed) expect((await courier.getTask(id))?.status).toBe('succeeded');
  });

  it('acts on listed ids only where the state allows, and promotes, cancels and deletes', async () => {
    const delayed = await courier.enqueueMany([
      { name: 'send_welcome', payload: { userId: 1 }, options: { delay: 600 } },
      { name: 'send_welcome', payload: { userId: 2 }, options: { delay: 600 } },
    ]);
    const promoted = await json(await post('/tasks/actions', { action: 'promote', ids: delayed }), 200);
    expect(promoted.count).toBe(2);
    for (const id of delayed) expect(((await courier.getTask(id))?.runAt.getTime() ?? Infinity) <= Date.now()).toBe(true);
    expect((await json(await post('/tasks/actions', { action: 'cancel', ids: delayed }), 200)).count).toBe(2);
    expect((await json(await post('/tasks/actions', { action: 'cancel', ids: delayed }), 200)).count).toBe(0); // already cancelled
    expect((await json(await post('/tasks/actions', { action: 'delete', ids: [...delayed, '9223372036854775807'] }), 200)).count).toBe(2);
    expect(await courier.getTask(delayed[0] as string)).toBeNull();
  });

  it('skips a retry whose key another live task holds', async () => {
    flakySwitch.fail = true;
    const old = await courier.enqueueTask('flaky', {}, { key: 'report-q3' });
    await courier.drain();
    const live = await courier.enqueueTask('flaky', {}, { key: 'report-q3', delay: 600 });
    const res = await json(await post('/tasks/actions', { action: 'retry', ids: [old] }), 200);
    expect(res).toMatchObject({ count: 0, skipped: 1 });
    expect((await courier.getTask(old))?.status).toBe('failed');
    await courier.cancel(live);
    flakySwitch.fail = false;
  });
});

describe('queues and schedules', () => {
  it('edits a queue\'s limits and refuses to pause or configure a queue that does not exist', async () => {
    const q = await json(await post('/queues/imports', { concurrency: 2, rateLimit: '30/m' }), 200);
    expect(q).toMatchObject({ name: 'imports', concurrency: 2, rateLimit: { limit: 30, per: 60 } });
    expect(await json(await post('/queues/imports', { concurrency: null }), 200)).toMatchObject({ concurrency: null, rateLimit: { limit: 30, per: 60 } });
    await expectProblem(await post('/queues/typo-queue/pause'), 404, 'queue');
    expect((await courier.listQueues()).some((x) => x.name === 'typo-queue')).toBe(false);
  });

  it('previews a cron expression\'s next runs in its time zone', async () => {
    const body = await json(await post('/schedule-preview', { cron: '30 9 * * 1', timezone: 'Europe/Paris', count: 3 }), 200);
    expect(body.nextRuns).toHaveLength(3);
    for (const at of body.nextRuns) {
      const d = new Date(at);
      expect(new Intl.DateTimeFormat('en-GB', { timeZone: 'Europe/Paris', weekday: 'short', hour: '2-digit', minute: '2-digit' }).format(d)).toBe('Mon 09:30');
    }
    expect(Date.parse(body.nextRuns[1]) - Date.parse(body.nextRuns[0])).toBeGreaterThanOrEqual(7 * 86_400_000 - 3_600_000);
  });

  it('returns the whole schedule from pause and resume', async () => {
    await json(await post('/schedules', { name: 'weekly', cron: '0 6 * * 1', task: 'send_welcome', payload: { userId: 3 } }), 201);
    expect(await json(await post('/schedules/weekly/pause'), 200)).toMatchObject({ name: 'weekly', cron: '0 6 * * 1', paused: true, task: 'send_welcome' });
    expect(await json(await post('/schedules/weekly/resume'), 200)).toMatchObject({ name: 'weekly', paused: false });
  });
});

describe('history rollup', () => {
  it('counts finished tasks per minute and queue, the same before and after the rollup, and after the tasks are deleted', async () => {
    const before = await readHistory(courier.pool, courier.names, 5);
    const n = (h: typeof before, q: string, k: 'succeeded' | 'failed') => (h.queues[q]?.[k] ?? []).reduce((x, y) => x + y, 0);
    const okBefore = n(before, 'imports', 'succeeded');
    const ids2 = await courier.enqueueMany([{ name: 'import_rows', payload: {} }, { name: 'import_rows', payload: {} }, { name: 'import_rows', payload: { fail: true } }]);
    await courier.drain();
    const live = await readHistory(courier.pool, courier.names, 5);
    expect(n(live, 'imports', 'succeeded')).toBe(okBefore + 2);
    // Roll everything up (the lag pushed back by moving finished_at 20 s into the past).
    await courier.pool.query(`UPDATE ${courier.names.tasks} SET finished_at = finished_at - interval '20 seconds' WHERE id = ANY($1::bigint[])`, [ids2]);
    expect(await rollUpHistory(courier.pool, courier.names)).toBe(true);
    const { rows } = await courier.pool.query(`SELECT sum(succeeded)::int AS s, sum(failed)::int AS f FROM ${courier.names.table('task_history')} WHERE queue = 'imports'`);
    expect(rows[0].s).toBeGreaterThanOrEqual(2);
    await courier.pool.query(`DELETE FROM ${courier.names.tasks} WHERE id = ANY($1::bigint[])`, [ids2]);
    const after = await readHistory(courier.pool, courier.names, 5);
    expect(n(after, 'imports', 'succeeded')).toBe(okBefore + 2);
    expect(n(after, 'imports', 'failed')).toBe(n(live, 'imports', 'failed'));
    const res = await json(await get('/history?minutes=5'), 200);
    expect(res.total.succeeded).toHaveLength(5);
    expect(res.queues.imports.succeeded.reduce((x: number, y: number) => x + y, 0)).toBe(okBefore + 2);
  });

  it('keeps the table bounded: minutes older than a day are dropped', async () => {
    const h = courier.names.table('task_history');
    await courier.pool.query(`INSERT INTO ${h} (minute, queue, succeeded) VALUES (date_trunc('minute', now() - interval '25 hours'), 'old', 5)`);
    await rollUpHistory(courier.pool, courier.names);
    const { rows } = await courier.pool.query(`SELECT count(*)::int AS n FROM ${h} WHERE queue = 'old'`);
    expect(rows[0].n).toBe(0);
  });
});

describe('over a socket', () => {
  it('answers TRACE with 405 and Allow', async () => {
    const server = await listen(api.node);
    try {
      const res = await new Promise<{ status: number; allow: string | undefined; type: string | undefined }>((resolve, reject) => {
        import('node:http').then(({ request }) => {
          const req = request(`${server.url}${BASE}/tasks`, { method: 'TRACE' }, (r) => {
            r.resume();
            resolve({ status: r.statusCode ?? 0, allow: r.headers.allow, type: r.headers['content-type'] });
          });
          req.on('error', reject);
          req.end();
        }, reject);
      });
      expect(res).toMatchObject({ status: 405, type: 'application/problem+json' });
      expect(res.allow?.split(', ').sort()).toEqual(['GET', 'HEAD', 'OPTIONS', 'POST']);
    } finally {
      await server.close();
    }
  });
});
