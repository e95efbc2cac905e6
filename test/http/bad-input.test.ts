// Every documented operation answers bad input with a clear 4xx problem naming the
// field. The table is checked against the OpenAPI document, so a new endpoint
// without a bad-input case fails here.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CourierHttpHandler } from '../../src/http/index.js';
import type { Courier } from '../../src/index.js';
import { apiCourier, BASE, call, expectProblem } from './helpers.js';

interface Case {
  method: string;
  path: string;
  body?: unknown;
  raw?: string;
  headers?: Record<string, string>;
  status: number;
  field?: string;
}

const json = { 'content-type': 'application/json' };

/** Bad requests per operationId (several where an endpoint takes several inputs). */
const cases: Record<string, Case[]> = {
  enqueueTask: [
    { method: 'POST', path: '/tasks', body: { name: 'send_welcome', payload: { userId: '1' } }, status: 400, field: 'payload.userId' },
    { method: 'POST', path: '/tasks', body: { name: 'send_welcome', payload: { userId: 1 }, options: { queue: 'a b' } }, status: 400, field: 'options.queue' },
    { method: 'POST', path: '/tasks', raw: '[1,', headers: json, status: 400, field: 'body' },
    { method: 'POST', path: '/tasks', raw: '<task/>', headers: { 'content-type': 'application/xml' }, status: 415, field: 'body' },
  ],
  enqueueTasks: [
    { method: 'POST', path: '/tasks/bulk', body: { items: [{ name: 'send_welcome', payload: { userId: 1 } }, { name: 'nope' }] }, status: 400, field: 'items.1.name' },
    { method: 'POST', path: '/tasks/bulk', body: [{ name: 'send_welcome' }], status: 400, field: 'body' },
  ],
  listTasks: [
    { method: 'GET', path: '/tasks?status=pending', status: 400, field: 'status' },
    { method: 'GET', path: '/tasks?cursor=9223372036854775808', status: 400, field: 'cursor' },
    { method: 'GET', path: '/tasks?sort=priority&cursor=12', status: 400, field: 'cursor' },
    { method: 'GET', path: '/tasks?limit=abc', status: 400, field: 'limit' },
  ],
  getTask: [
    { method: 'GET', path: '/tasks/0', status: 400, field: 'id' },
    { method: 'GET', path: '/tasks/9223372036854775808', status: 400, field: 'id' },
  ],
  countTasks: [
    { method: 'GET', path: '/tasks/counts?status=failed', status: 400, field: 'status' },
    { method: 'GET', path: '/tasks/counts?createdBefore=yesterday', status: 400, field: 'createdBefore' },
  ],
  bulkTaskAction: [
    { method: 'POST', path: '/tasks/actions', body: { action: 'explode', ids: ['1'] }, status: 400, field: 'action' },
    { method: 'POST', path: '/tasks/actions', body: { action: 'retry' }, status: 400, field: 'ids' },
    { method: 'POST', path: '/tasks/actions', body: { action: 'retry', ids: ['99999999999999999999'] }, status: 400, field: 'ids.0' },
    { method: 'POST', path: '/tasks/actions', body: { action: 'retry', filter: { status: 'pending' } }, status: 400, field: 'filter.status' },
  ],
  configureQueue: [
    { method: 'POST', path: '/queues/email', body: { concurrency: '5' }, status: 400, field: 'concurrency' },
    { method: 'POST', path: '/queues/email', body: { rateLimit: 'fast' }, status: 400, field: 'rateLimit' },
    { method: 'POST', path: '/queues/no-such-queue', body: { concurrency: 1 }, status: 404, field: 'queue' },
    { method: 'POST', path: '/queues/email', body: { groupConcurrency: 0 }, status: 400, field: 'groupConcurrency' },
    { method: 'POST', path: '/queues/email', body: { groupConcurrency: { tiers: { gold: 'many' } } }, status: 400, field: 'groupConcurrency' },
    { method: 'POST', path: '/queues/email', body: { groupRateLimit: '5 per second' }, status: 400, field: 'groupRateLimit' },
    { method: 'POST', path: '/queues/email', body: { fair: 'yes' }, status: 400, field: 'fair' },
    { method: 'POST', path: '/queues/email', body: { deadLetter: 'a b' }, status: 400, field: 'deadLetter' },
    { method: 'POST', path: '/queues/email', body: { deadLetter: 'email' }, status: 400, field: 'deadLetter' },
  ],
  previewSchedule: [
    { method: 'POST', path: '/schedule-preview', body: { cron: 'every day' }, status: 400, field: 'cron' },
    { method: 'POST', path: '/schedule-preview', body: { cron: '* * * * *', timezone: 'Mars/Olympus' }, status: 400, field: 'timezone' },
  ],
  getHistory: [{ method: 'GET', path: '/history?minutes=1441', status: 400, field: 'minutes' }],
  getWorkflow: [{ method: 'GET', path: '/workflows/0', status: 400, field: 'id' }],
  cancelTask: [{ method: 'POST', path: '/tasks/-1/cancel', status: 400, field: 'id' }],
  retryTask: [
    { method: 'POST', path: '/tasks/1e3/retry', status: 400, field: 'id' },
    { method: 'POST', path: '/tasks/99999999999999999999/retry', status: 400, field: 'id' },
  ],
  promoteTask: [{ method: 'POST', path: '/tasks/x/promote', status: 400, field: 'id' }],
  deleteTask: [{ method: 'DELETE', path: '/tasks/0', status: 400, field: 'id' }],
  listTaskTypes: [{ method: 'GET', path: '/task-types?all=true', status: 400, field: 'all' }],
  getQueueStatus: [{ method: 'GET', path: '/queue-status?queue=email', status: 400, field: 'queue' }],
  listQueues: [{ method: 'GET', path: '/queues?paused=true', status: 400, field: 'paused' }],
  pauseQueue: [
    { method: 'POST', path: '/queues/%E2%9C%93/pause', status: 400, field: 'queue' },
    { method: 'POST', path: '/queues/never-used/pause', status: 404, field: 'queue' },
  ],
  resumeQueue: [{ method: 'POST', path: `/queues/${'q'.repeat(129)}/resume`, status: 400, field: 'queue' }],
  redrive: [
    { method: 'POST', path: '/redrive', body: { ids: 'all' }, status: 400, field: 'ids' },
    { method: 'POST', path: '/redrive', body: { deadLetter: 'email.dead', everything: true }, status: 400, field: 'everything' },
    { method: 'POST', path: '/redrive', body: { deadLetter: 'email.dead', dryRun: 'yes' }, status: 400, field: 'dryRun' },
  ],
  listSchedules: [{ method: 'GET', path: '/schedules?limit=1', status: 400, field: 'limit' }],
  createSchedule: [
    { method: 'POST', path: '/schedules', body: { name: 'n', cron: '* * * * *' }, status: 400, field: 'task' },
    { method: 'POST', path: '/schedules', body: { name: 'n', cron: 'every day', task: 'send_welcome' }, status: 400, field: 'cron' },
  ],
  pauseSchedule: [{ method: 'POST', path: '/schedules/no%20spaces/pause', status: 400, field: 'name' }],
  resumeSchedule: [{ method: 'POST', path: '/schedules/unknown-schedule/resume', status: 404, field: 'name' }],
  removeSchedule: [{ method: 'DELETE', path: '/schedules/a%2Fb', status: 400, field: 'name' }],
  getMessageStatus: [{ method: 'GET', path: '/messages/status?channel=sms', status: 400, field: 'channel' }],
  sendMessage: [
    { method: 'POST', path: '/messages', body: { channel: 'sms', body: 'hi' }, status: 400, field: 'to' },
    { method: 'POST', path: '/messages', body: { channel: 'sms', to: '+15555550100', body: 'hi', cc: 'x' }, status: 400, field: 'cc' },
  ],
  listMessages: [
    { method: 'GET', path: '/messages?limit=0', status: 400, field: 'limit' },
    { method: 'GET', path: '/messages?channel=SMS%21', status: 400, field: 'channel' },
    { method: 'GET', path: '/messages?cursor=abc', status: 400, field: 'cursor' },
  ],
  getMessageHistory: [
    { method: 'GET', path: `/messages/${'m'.repeat(201)}/history`, status: 400, field: 'id' },
    { method: 'GET', path: '/messages/00000000-0000-4000-8000-000000000000/history', status: 404, field: 'id' },
  ],
  getMessage: [
    { method: 'GET', path: `/messages/${'m'.repeat(201)}`, status: 400, field: 'id' },
    { method: 'GET', path: '/messages/00000000-0000-4000-8000-000000000000', status: 404, field: 'id' },
  ],
  reconcileMessage: [
    { method: 'POST', path: `/messages/${'m'.repeat(201)}/reconcile`, status: 400, field: 'id' },
    { method: 'POST', path: '/messages/00000000-0000-4000-8000-000000000000/reconcile', body: { force: true }, status: 400, field: 'force' },
    { method: 'POST', path: '/messages/00000000-0000-4000-8000-000000000000/reconcile', status: 404 },
  ],
  resendMessage: [
    { method: 'POST', path: '/messages/00000000-0000-4000-8000-000000000000/resend', body: { channel: 'sms' }, status: 400, field: 'channel' },
    { method: 'POST', path: '/messages/00000000-0000-4000-8000-000000000000/resend', status: 404 },
  ],
  listBatches: [{ method: 'GET', path: '/batches?before=2025-01-01', status: 400, field: 'before' }],
  sendBulk: [{ method: 'POST', path: '/batches', body: { channel: 'sms', template: 'hi', recipients: [] }, status: 400, field: 'recipients' }],
  getBatch: [{ method: 'GET', path: '/batches/00000000-0000-4000-8000-000000000000', status: 404, field: 'id' }],
  getOverview: [{ method: 'GET', path: '/overview?refresh=1', status: 400, field: 'refresh' }],
  getMetrics: [{ method: 'GET', path: '/metrics?format=json', status: 400, field: 'format' }],
  listWorkers: [{ method: 'GET', path: '/workers?alive=1', status: 400, field: 'alive' }],
  originEnqueueTask: [
    { method: 'POST', path: '/api/tasks/enqueue/', body: { task_name: 'send_welcome', payload: { userId: 1 }, priority: 11 }, status: 400, field: 'priority' },
    { method: 'POST', path: '/api/tasks/enqueue/', body: { task_name: 'send_welcome', payload: {} }, status: 400, field: 'payload.userId' },
  ],
  originGetTask: [{ method: 'GET', path: '/api/tasks/status/x/', status: 400, field: 'id' }],
  originListTasks: [{ method: 'GET', path: '/api/tasks/list/?created_after=monday', status: 400, field: 'created_after' }],
  originQueueStatus: [{ method: 'GET', path: '/api/tasks/queue-status/?queue=email', status: 400, field: 'queue' }],
};

/** Operations without input to get wrong: public pages, and webhooks (messaging validates those; see webhooks.test.ts). */
const noInput = new Set(['getDashboard', 'getHealth', 'getOpenApi']);

let courier: Courier;
let api: CourierHttpHandler;
let operations: { id: string; tags: string[] }[];

beforeAll(async () => {
  ({ courier, api } = await apiCourier());
  const doc = (await (await call(api, 'GET', `${BASE}/openapi.json`, { token: null })).json()) as {
    paths: Record<string, Record<string, { operationId: string; tags: string[]; responses: Record<string, { description: string }> }>>;
  };
  operations = Object.values(doc.paths).flatMap((item) =>
    Object.values(item).map((op) => ({ id: op.operationId, tags: op.tags })),
  );
});
afterAll(async () => {
  await courier.close();
});

describe('bad input', () => {
  it('has a case for every documented operation that takes input', () => {
    const missing = operations.filter((o) => !o.tags.includes('webhooks') && !noInput.has(o.id) && !cases[o.id]).map((o) => o.id);
    expect(missing).toEqual([]);
    const unknown = Object.keys(cases).filter((id) => !operations.some((o) => o.id === id));
    expect(unknown).toEqual([]);
  });

  it('answers each with a 4xx problem naming the field', async () => {
    for (const op of operations) {
      for (const c of cases[op.id] ?? []) {
        const res = await call(api, c.method, `${BASE}${c.path}`, { body: c.body, raw: c.raw, headers: c.headers });
        const problem = await expectProblem(res, c.status, c.field);
        expect(problem.detail, `${op.id} ${c.path}`).toMatch(c.status === 400 ? /^"[\w.]+" (must|is) / : /./);
      }
    }
  });
});

describe('wrong types and odd requests', () => {
  it('says what was expected for a value of the wrong type, and "is required" only when it is missing', async () => {
    const priority = await expectProblem(await call(api, 'POST', `${BASE}/tasks`, { body: { name: 'send_welcome', payload: { userId: 1 }, options: { priority: '1' } } }), 400, 'options.priority');
    expect(priority.detail).toMatch(/must be an integer/);
    const limit = await expectProblem(await call(api, 'GET', `${BASE}/tasks?limit=abc`), 400, 'limit');
    expect(limit.detail).toMatch(/must be an integer/);
    const nul = await expectProblem(await call(api, 'POST', `${BASE}/tasks`, { raw: 'null', headers: json }), 400, 'body');
    expect(nul.detail).toBe('"body" must be an object');
    const name = await expectProblem(await call(api, 'POST', `${BASE}/tasks`, { body: { name: 5 } }), 400, 'name');
    expect(name.detail).toMatch(/must be/);
    const missing = await expectProblem(await call(api, 'POST', `${BASE}/tasks`, { body: { payload: {} } }), 400, 'name');
    expect(missing.detail).toBe('"name" is required');
  });

  it('answers ids and cursors beyond bigint with 400, never 500', async () => {
    for (const path of ['/tasks/9223372036854775808', '/tasks/9999999999999999999/cancel', '/api/tasks/status/9999999999999999999/', '/tasks?cursor=9999999999999999999']) {
      const res = await call(api, path.includes('cancel') ? 'POST' : 'GET', `${BASE}${path}`);
      expect([400, 404], `${path}: ${res.status}`).toContain(res.status);
      await res.body?.cancel();
    }
    expect((await call(api, 'GET', `${BASE}/tasks/9223372036854775807`)).status).toBe(404);
  });

  it('accepts createdBefore and createdAfter in epoch milliseconds', async () => {
    const res = await call(api, 'GET', `${BASE}/tasks?createdBefore=${Date.now() + 60_000}&createdAfter=${Date.now() - 60_000}`);
    expect(res.status).toBe(200);
  });
});

describe('queue settings over HTTP', () => {
  it('says what was expected for each flow-control field', async () => {
    const detail = async (body: unknown, field: string) => (await expectProblem(await call(api, 'POST', `${BASE}/queues/email`, { body }), 400, field)).detail;
    expect(await detail({ groupConcurrency: 0 }, 'groupConcurrency')).toBe('"groupConcurrency" must be an integer >= 1');
    expect(await detail({ groupConcurrency: 'two' }, 'groupConcurrency')).toBe('"groupConcurrency" must be an integer >= 1, { default?, tiers: { tier: n } }, or null');
    expect(await detail({ groupRateLimit: '5 per second' }, 'groupRateLimit')).toMatch(/^"groupRateLimit" must be a rate per group such as "5\/s"/);
    expect(await detail({ rateLimit: 'fast' }, 'rateLimit')).toMatch(/^"rateLimit" must be a rate such as "5\/s"/);
    expect(await detail({ fair: 'yes' }, 'fair')).toBe('"fair" must be true, false or null');
    expect(await detail({ deadLetter: 'email' }, 'deadLetter')).toMatch(/^"deadLetter" must name another queue/);
    // Nothing was written by the refused requests.
    expect((await courier.listQueues()).find((q) => q.name === 'email')?.deadLetter ?? null).toBeNull();
  });
});
