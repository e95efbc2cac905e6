import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CourierHttpHandler, createHttpHandler } from '../../src/http/index.js';
import type { Courier } from '../../src/index.js';
import { testCourier } from '../helpers/db.js';
import { apiCourier, BASE, call, expectProblem, TOKEN } from './helpers.js';

let courier: Courier;
let api: CourierHttpHandler;

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
});
afterAll(async () => {
  await courier.close();
});

const get = (path: string, o = {}) => call(api, 'GET', `${BASE}${path}`, o);
const post = (path: string, body?: unknown, o = {}) => call(api, 'POST', `${BASE}${path}`, { body, ...o });

async function json(res: Response, status: number): Promise<any> {
  const text = await res.text();
  expect(res.status, text).toBe(status);
  expect(res.headers.get('content-type')).toMatch(/^application\/json/);
  return JSON.parse(text);
}

describe('tasks', () => {
  it('enqueues, reads and lists a task, with a Location header', async () => {
    const res = await post('/tasks', { name: 'send_welcome', payload: { userId: 1 }, options: { priority: 2 } });
    const { id } = await json(res, 201);
    expect(res.headers.get('location')).toBe(`${BASE}/tasks/${id}`);
    const task = await json(await get(`/tasks/${id}`), 200);
    expect(task).toMatchObject({ id, name: 'send_welcome', queue: 'email', priority: 2, status: 'queued', attempts: 0, payload: { userId: 1 }, result: null, errors: [] });
    expect(Date.parse(task.createdAt)).toBeGreaterThan(0);
    await courier.drain();
    const done = await json(await get(`/tasks/${id}`), 200);
    expect(done).toMatchObject({ status: 'succeeded', attempts: 1, result: { sent: true, userId: 1 }, progress: { current: 2, total: 2 } });
  });

  it('enqueues many in input order and honours keys', async () => {
    const { ids } = await json(
      await post('/tasks/bulk', {
        items: [
          { name: 'send_welcome', payload: { userId: 10 }, options: { key: 'u10' } },
          { name: 'send_welcome', payload: { userId: 11 }, options: { runAt: new Date(Date.now() + 3_600_000).toISOString() } },
        ],
      }),
      201,
    );
    expect(ids).toHaveLength(2);
    const again = await json(await post('/tasks', { name: 'send_welcome', payload: { userId: 10 }, options: { key: 'u10' } }), 201);
    expect(again.id).toBe(ids[0]);
    const delayed = await json(await get(`/tasks/${ids[1]}`), 200);
    expect(Date.parse(delayed.runAt)).toBeGreaterThan(Date.now() + 3_500_000);
  });

  it('promotes a delayed task and deletes it once finished; wrong states are 409, unknown ids 404', async () => {
    const del = (path: string) => call(api, 'DELETE', `${BASE}${path}`);
    const { id } = await json(await post('/tasks', { name: 'send_welcome', payload: { userId: 20 }, options: { delay: 3600 } }), 201);
    await expectProblem(await del(`/tasks/${id}`), 409);
    const promoted = await json(await post(`/tasks/${id}/promote`), 200);
    expect(Date.parse(promoted.runAt)).toBeLessThanOrEqual(Date.now() + 1000);
    await courier.drain();
    await expectProblem(await post(`/tasks/${id}/promote`), 409);
    const gone = await del(`/tasks/${id}`);
    expect(gone.status).toBe(204);
    await expectProblem(await get(`/tasks/${id}`), 404, 'id');
    await expectProblem(await post('/tasks/987654321/promote'), 404);
    await expectProblem(await del('/tasks/987654321'), 404);
  });

  it('rejects bad enqueue input with the field named', async () => {
    await expectProblem(await post('/tasks', { name: 'send_welcome', payload: { userId: 'x' } }), 400, 'payload.userId');
    const unknown = await expectProblem(await post('/tasks', { name: 'nope-SECRET', payload: {} }), 400, 'name');
    expect(unknown.detail).toBe('"name" must be a registered task name');
    await expectProblem(await post('/tasks', { name: 'send_welcome', payload: { userId: 1 }, extra: true }), 400, 'extra');
    await expectProblem(await post('/tasks', { name: 'send_welcome', payload: { userId: 1 }, options: { priority: 0 } }), 400, 'options.priority');
    await expectProblem(await post('/tasks', { name: 'send_welcome', options: { runAt: 'tomorrow' } }), 400, 'options.runAt');
    await expectProblem(await post('/tasks', { name: 'send_welcome', options: { tx: {} } }), 400, 'options.tx');
    await expectProblem(await post('/tasks'), 400, 'body');
    await expectProblem(await call(api, 'POST', `${BASE}/tasks`, { raw: '{"name":', headers: { 'content-type': 'application/json' } }), 400, 'body');
    await expectProblem(await call(api, 'POST', `${BASE}/tasks`, { raw: 'name=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } }), 415, 'body');
    await expectProblem(await post('/tasks/bulk', { items: [] }), 400, 'items');
    await expectProblem(await post('/tasks/bulk', { items: [{ name: 'send_welcome', payload: { userId: 1 }, options: { keyMode: 'keep' } }] }), 400, 'items.0.options.keyMode');
  });

  it('never echoes the rejected value', async () => {
    const body = await expectProblem(await post('/tasks', { name: 'send_welcome', payload: { userId: 'SECRET-VALUE-42' } }), 400, 'payload.userId');
    expect(JSON.stringify(body)).not.toContain('SECRET-VALUE-42');
  });

  it('lists with filters and cursor pagination', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) ids.push((await json(await post('/tasks', { name: 'flaky', payload: { i } }), 201)).id);
    const page1 = await json(await get('/tasks?name=flaky&queue=reports&status=queued&limit=2'), 200);
    expect(page1.tasks.map((t: { id: string }) => t.id)).toEqual([ids[4], ids[3]]);
    expect(page1.nextCursor).toBe(ids[3]);
    const page2 = await json(await get(`/tasks?name=flaky&limit=2&cursor=${page1.nextCursor}`), 200);
    expect(page2.tasks.map((t: { id: string }) => t.id)).toEqual([ids[2], ids[1]]);
    const future = encodeURIComponent(new Date(Date.now() + 60_000).toISOString());
    expect((await json(await get(`/tasks?createdAfter=${future}`), 200)).tasks).toEqual([]);
    const past = encodeURIComponent(new Date(Date.now() - 60_000).toISOString());
    expect((await json(await get(`/tasks?name=flaky&createdAfter=${past}&createdBefore=${future}&limit=500`), 200)).tasks).toHaveLength(5);
    await expectProblem(await get('/tasks?status=done'), 400, 'status');
    await expectProblem(await get('/tasks?limit=0'), 400, 'limit');
    await expectProblem(await get('/tasks?limit=abc'), 400, 'limit');
    await expectProblem(await get('/tasks?createdAfter=yesterday'), 400, 'createdAfter');
    await expectProblem(await get('/tasks?cursor=-1'), 400, 'cursor');
    await expectProblem(await get('/tasks?sort=asc'), 400, 'sort');
    await expectProblem(await get('/tasks?limit=1&limit=2'), 400, 'limit');
    for (const id of ids) await courier.cancel(id);
  });

  it('reads, cancels and retries by id with 404 and 409 where they apply', async () => {
    await expectProblem(await get('/tasks/abc'), 400, 'id');
    await expectProblem(await get('/tasks/987654321'), 404, 'id');
    const { id } = await json(await post('/tasks', { name: 'fail_always' }), 201);
    await expectProblem(await post(`/tasks/${id}/retry`), 409);
    await courier.drain();
    expect((await json(await get(`/tasks/${id}`), 200)).status).toBe('failed');
    await expectProblem(await post(`/tasks/${id}/cancel`), 409);
    const retried = await json(await post(`/tasks/${id}/retry`), 200);
    expect(retried).toMatchObject({ id, status: 'queued', attempts: 0, lastError: expect.stringContaining('smtp said no: 550 mailbox unavailable') });
    const cancelled = await json(await post(`/tasks/${id}/cancel`, {}), 200);
    expect(cancelled.status).toBe('cancelled');
    await expectProblem(await post('/tasks/987654321/cancel'), 404, 'id');
    await expectProblem(await post('/tasks/987654321/retry'), 404, 'id');
    await expectProblem(await post('/tasks/x1/cancel'), 400, 'id');
    await expectProblem(await post('/tasks/x1/retry'), 400, 'id');
    await expectProblem(await post(`/tasks/${id}/retry`, { force: true }), 400, 'body');
  });

  it('lists registered task types with payload JSON Schema', async () => {
    const { taskTypes } = await json(await get('/task-types'), 200);
    const welcome = taskTypes.find((t: { name: string }) => t.name === 'send_welcome');
    expect(welcome).toMatchObject({ queue: 'email', priority: 5, maxRetries: 3, retryDelay: 60, timeout: null });
    expect(welcome.payloadSchema).toMatchObject({ type: 'object', properties: { userId: { type: 'number' } } });
    expect(taskTypes.find((t: { name: string }) => t.name === 'flaky').payloadSchema).toBeNull();
    await expectProblem(await get('/task-types?x=1'), 400, 'x');
  });

  it('reports queue status with 24 h activity and the oldest due task', async () => {
    const { id } = await json(await post('/tasks', { name: 'send_welcome', payload: { userId: 5 }, options: { queue: 'status-q' } }), 201);
    const status = await json(await get('/queue-status'), 200);
    const q = status.queues['status-q'];
    expect(q).toMatchObject({ queued: 1, running: 0, succeeded: 0, failed: 0, cancelled: 0, total: 1, last24h: 1 });
    expect(Date.parse(q.oldestQueuedAt)).toBeLessThanOrEqual(Date.now() + 1000);
    expect(Date.parse(q.lastUpdated)).toBeGreaterThan(0);
    expect(status.total.total).toBeGreaterThanOrEqual(1);
    await expectProblem(await get('/queue-status?verbose=1'), 400, 'verbose');
    await courier.cancel(id);
    expect((await json(await get('/queue-status'), 200)).queues['status-q'].oldestQueuedAt).toBeNull();
  });

  it('serves the overview the dashboard polls', async () => {
    const o = await json(await get('/overview'), 200);
    expect(o).toMatchObject({ refresh: 2, status: { total: expect.any(Object) }, running: expect.any(Array), failed: expect.any(Array), retrying: expect.any(Array) });
    expect(o.features).toMatchObject({ pause: expect.any(Boolean), schedules: expect.any(Boolean), messages: expect.any(Boolean), batches: expect.any(Boolean) });
    for (const t of [...o.failed, ...o.running]) expect(t).not.toHaveProperty('payload');
    await expectProblem(await get('/overview?x=1'), 400, 'x');
  });
});

describe('queues and schedules', () => {
  it('pauses and resumes a queue', async () => {
    expect(await json(await post('/queues/email/pause'), 200)).toMatchObject({ name: 'email', paused: true });
    const { queues } = await json(await get('/queues'), 200);
    expect(queues.find((q: { name: string }) => q.name === 'email')).toMatchObject({ paused: true });
    expect(await json(await post('/queues/email/resume'), 200)).toMatchObject({ name: 'email', paused: false });
    await expectProblem(await post('/queues/bad%20name/pause'), 400, 'queue');
    await expectProblem(await post('/queues/bad%20name/resume'), 400, 'queue');
    await expectProblem(await get('/queues?all=1'), 400, 'all');
  });

  it('creates, lists, pauses, resumes and removes schedules', async () => {
    const created = await json(await post('/schedules', { name: 'http-test', cron: '*/5 * * * *', task: 'send_welcome', payload: { userId: 3 }, options: { timezone: 'UTC' } }), 201);
    expect(created).toMatchObject({ name: 'http-test', cron: '*/5 * * * *', task: 'send_welcome' });
    const { schedules } = await json(await get('/schedules'), 200);
    expect(schedules.map((s: { name: string }) => s.name)).toContain('http-test');
    expect(await json(await post('/schedules/http-test/pause'), 200)).toMatchObject({ name: 'http-test' });
    expect((await json(await get('/schedules'), 200)).schedules.find((s: { name: string }) => s.name === 'http-test').paused).toBe(true);
    expect(await json(await post('/schedules/http-test/resume'), 200)).toMatchObject({ name: 'http-test' });
    const del = await call(api, 'DELETE', `${BASE}/schedules/http-test`);
    expect(del.status).toBe(204);
    await expectProblem(await call(api, 'DELETE', `${BASE}/schedules/http-test`), 404, 'name');
    await expectProblem(await post('/schedules/missing/pause'), 404, 'name');
    await expectProblem(await post('/schedules/missing/resume'), 404, 'name');
    await expectProblem(await post('/schedules/bad%20name/pause'), 400, 'name');
    await expectProblem(await post('/schedules', { name: 'x', cron: '* * * * *', task: 'send_welcome', when: 'now' }), 400, 'when');
    await expectProblem(await post('/schedules', { name: 'x', cron: 'not a cron', task: 'send_welcome' }), 400, 'cron');
    await expectProblem(await post('/schedules', { name: 'x', cron: '* * * * *', task: 'send_welcome', options: { colour: 'red' } }), 400, 'options.colour');
    await expectProblem(await get('/schedules?x=1'), 400, 'x');
  });
});

describe('system endpoints', () => {
  it('reports health without auth', async () => {
    const res = await call(api, 'GET', `${BASE}/health`, { token: null });
    expect(await json(res, 200)).toMatchObject({ status: 'ok', database: true, processor: { running: false } });
  });

  it('serves Prometheus metrics and workers behind auth', async () => {
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(await res.text()).toMatch(/^# (HELP|TYPE) /m);
    expect(await json(await get('/workers'), 200)).toMatchObject({ workers: expect.any(Array) });
    await expectProblem(await get('/metrics?x=1'), 400, 'x');
    await expectProblem(await get('/workers?x=1'), 400, 'x');
  });

  it('serves no messaging endpoint, webhook or dashboard section without the messages plugin', async () => {
    const bare = await testCourier();
    try {
      const plain = createHttpHandler(bare, { basePath: BASE, auth: { token: TOKEN } });
      for (const [method, path] of [
        ['GET', '/messages/status'],
        ['POST', '/messages'],
        ['GET', '/messages/m1'],
        ['GET', '/batches'],
        ['GET', '/batches/b1'],
        ['POST', '/webhooks/twilio'],
      ] as const) {
        await expectProblem(await call(plain, method, `${BASE}${path}`, method === 'POST' ? { body: { channel: 'sms', to: '+15550001', body: 'hi' } } : {}), 404);
      }
      const paths = Object.keys((plain.openapi() as { paths: Record<string, unknown> }).paths);
      expect(paths.some((p) => p.startsWith('/messages') || p.startsWith('/batches') || p.startsWith('/webhooks'))).toBe(false);
      const overview = await (await call(plain, 'GET', `${BASE}/overview`)).json();
      expect(overview).toMatchObject({ batches: null, messages: null, features: { messages: false, batches: false, pause: true, schedules: true } });
    } finally {
      await bare.close();
    }
  });
});

describe('origin-compatible aliases', () => {
  it('enqueue, status, list and queue status in snake_case, with trailing slashes', async () => {
    const res = await post('/api/tasks/enqueue/', { task_name: 'send_welcome', payload: { userId: 77 }, priority: 1, max_retries: 2, retry_delay: 5 });
    const { task_id, status } = await json(res, 201);
    expect(status).toBe('queued');
    expect(res.headers.get('location')).toBe(`${BASE}/api/tasks/status/${task_id}/`);
    const t = await json(await get(`/api/tasks/status/${task_id}/`), 200);
    expect(t).toMatchObject({ task_id, task_name: 'send_welcome', queue: 'email', status: 'queued', priority: 1, max_retries: 2, payload: { userId: 77 }, error: null, completed_at: null });
    const noSlash = await json(await get(`/api/tasks/status/${task_id}`), 200);
    expect(noSlash.task_id).toBe(task_id);
    const list = await json(await get('/api/tasks/list/?task_name=send_welcome&status=queued&limit=1'), 200);
    expect(list).toMatchObject({ count: 1, tasks: [{ task_id }] });
    expect(list.next_cursor).not.toBeNull();
    const qs = await json(await get('/api/tasks/queue-status/'), 200);
    expect(qs.queues.email).toMatchObject({ queued: expect.any(Number), last_24h: expect.any(Number) });
    expect(qs.total).toHaveProperty('last_updated');
    await courier.cancel(task_id);
  });

  it('reports bad input with the names the client sent', async () => {
    await expectProblem(await post('/api/tasks/enqueue/', { task_name: 'nope' }), 400, 'task_name');
    await expectProblem(await post('/api/tasks/enqueue/', { task_name: 'send_welcome', payload: { userId: 1 }, maxRetries: 2 }), 400, 'maxRetries');
    await expectProblem(await post('/api/tasks/enqueue/', { task_name: 'send_welcome', payload: { userId: 1 }, max_retries: -1 }), 400, 'max_retries');
    await expectProblem(await get('/api/tasks/status/abc/'), 400, 'id');
    await expectProblem(await get('/api/tasks/status/987654321/'), 404, 'id');
    await expectProblem(await get('/api/tasks/list/?task_name=bad%20name'), 400, 'task_name');
    await expectProblem(await get('/api/tasks/queue-status/?x=1'), 400, 'x');
  });
});

describe('protocol', () => {
  it('serves HEAD for GET routes without a body and OPTIONS with Allow', async () => {
    const head = await call(api, 'HEAD', `${BASE}/queue-status`);
    expect(head.status).toBe(200);
    expect(await head.text()).toBe('');
    const options = await call(api, 'OPTIONS', `${BASE}/tasks`);
    expect(options.status).toBe(204);
    expect(options.headers.get('allow')).toBe('POST, GET, HEAD, OPTIONS');
  });

  it('answers 404 problem+json for unknown paths and paths outside the base path', async () => {
    await expectProblem(await get('/nothing-here'), 404);
    await expectProblem(await call(api, 'GET', '/elsewhere/tasks'), 404);
    await expectProblem(await call(api, 'GET', '/courierx/tasks'), 404);
  });

  it('refuses bodies over the limit, by Content-Length and while streaming', async () => {
    const small = createHttpHandler(courier, { basePath: BASE, auth: { token: TOKEN }, bodyLimit: 1024 });
    const big = JSON.stringify({ name: 'send_welcome', payload: { userId: 1, pad: 'x'.repeat(4096) } });
    await expectProblem(await call(small, 'POST', `${BASE}/tasks`, { raw: big, headers: { 'content-type': 'application/json' } }), 413);
    const encoder = new TextEncoder();
    const stream = new ReadableStream<Uint8Array>({
      start(c) {
        for (let i = 0; i < 8; i++) c.enqueue(encoder.encode(big.slice(i * 600, (i + 1) * 600)));
        c.close();
      },
    });
    await expectProblem(await call(small, 'POST', `${BASE}/tasks`, { raw: stream, headers: { 'content-type': 'application/json' } }), 413);
  });

  it('hides internal errors: 500 problem+json without message or stack, logged instead', async () => {
    const logged: unknown[] = [];
    const { courier: c2, api: a2 } = await apiCourier();
    try {
      (c2.logger as unknown as { error: (...a: unknown[]) => void }).error = (...args: unknown[]) => logged.push(args);
      (c2 as unknown as { listQueues: () => Promise<never> }).listQueues = async () => {
        throw new Error('connect failed for postgres://admin:hunter2@db');
      };
      const body = await expectProblem(await call(a2, 'GET', `${BASE}/queues`), 500);
      expect(JSON.stringify(body)).not.toContain('hunter2');
      expect(logged).toHaveLength(1);
    } finally {
      await c2.close();
    }
  });

  it('validates its options', () => {
    expect(() => createHttpHandler(courier, { basePath: '/x', auth: {} })).toThrow(/"auth" must give a bearer `token` or an `authorize` callback/);
    expect(() => createHttpHandler(courier, { auth: { token: 'short' } })).toThrow(/"auth.token" must be at least 16 characters/);
    expect(() => createHttpHandler(courier, { basePath: 'no-slash', auth: { token: TOKEN } })).toThrow(/"basePath"/);
    expect(() => createHttpHandler(courier, { auth: { token: TOKEN }, bodyLimit: 0 })).toThrow(/"bodyLimit"/);
    expect(() => createHttpHandler(courier, { auth: { token: TOKEN }, colour: 'red' } as never)).toThrow(/"colour" is not a known option/);
    expect(createHttpHandler(courier, { basePath: '/x/', auth: { token: TOKEN } }).basePath).toBe('/x');
  });
});
