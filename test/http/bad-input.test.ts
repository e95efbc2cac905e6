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
  listTasks: [{ method: 'GET', path: '/tasks?status=pending', status: 400, field: 'status' }],
  getTask: [{ method: 'GET', path: '/tasks/0', status: 400, field: 'id' }],
  getWorkflow: [{ method: 'GET', path: '/workflows/0', status: 400, field: 'id' }],
  cancelTask: [{ method: 'POST', path: '/tasks/-1/cancel', status: 400, field: 'id' }],
  retryTask: [{ method: 'POST', path: '/tasks/1e3/retry', status: 400, field: 'id' }],
  promoteTask: [{ method: 'POST', path: '/tasks/x/promote', status: 400, field: 'id' }],
  deleteTask: [{ method: 'DELETE', path: '/tasks/0', status: 400, field: 'id' }],
  listTaskTypes: [{ method: 'GET', path: '/task-types?all=true', status: 400, field: 'all' }],
  getQueueStatus: [{ method: 'GET', path: '/queue-status?queue=email', status: 400, field: 'queue' }],
  listQueues: [{ method: 'GET', path: '/queues?paused=true', status: 400, field: 'paused' }],
  pauseQueue: [{ method: 'POST', path: '/queues/%E2%9C%93/pause', status: 400, field: 'queue' }],
  resumeQueue: [{ method: 'POST', path: `/queues/${'q'.repeat(129)}/resume`, status: 400, field: 'queue' }],
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
  getMessage: [
    { method: 'GET', path: `/messages/${'m'.repeat(201)}`, status: 400, field: 'id' },
    { method: 'GET', path: '/messages/00000000-0000-4000-8000-000000000000', status: 404, field: 'id' },
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
