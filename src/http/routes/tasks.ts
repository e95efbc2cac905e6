import { z } from 'zod';
import { bulkTaskActionAcross, countTasksAcross, databaseOfTask, listTaskPageAcross } from '../../routing/task-list.js';
import { type TaskInfo, toTaskInfo } from '../../task-info.js';
import { type BulkSelection, getTaskRow, SUB_STATES, type TaskFilter, taskDetail, taskLinks, taskStatuses } from '../../task-list.js';
import type { HttpCourier } from '../courier-api.js';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import {
  bulkActionBody,
  bulkResultSchema,
  enqueueBody,
  enqueuedManySchema,
  enqueuedSchema,
  enqueueManyBody,
  listTasksQuery,
  queueStatusSchema,
  taskCountsQuery,
  taskCountsSchema,
  taskDetailSchema,
  taskIdSchema,
  taskPageSchema,
  taskSchema,
  taskTypesSchema,
} from '../schemas.js';

const idParams = z.object({ id: taskIdSchema }).strict();

const exampleTask = {
  id: '1',
  name: 'send_welcome',
  queue: 'email',
  payload: { userId: 42 },
  priority: 1,
  status: 'succeeded',
  attempts: 1,
  maxRetries: 3,
  runAt: '2025-01-01T12:00:00.000Z',
  result: { sent: true },
  progress: { current: 2, total: 2 },
  lastError: null,
  errors: [],
  key: null,
  createdAt: '2025-01-01T12:00:00.000Z',
  startedAt: '2025-01-01T12:00:00.050Z',
  finishedAt: '2025-01-01T12:00:00.310Z',
};

const exampleDetail = {
  ...exampleTask,
  attemptTimeline: [{ attempt: 1, outcome: 'succeeded', startedAt: '2025-01-01T12:00:00.050Z', endedAt: '2025-01-01T12:00:00.310Z', durationMs: 260, worker: null, error: null }],
  retryPolicy: { maxRetries: 3, retryDelay: 60, backoff: null, maxDelay: null, timeout: null },
  updatedAt: '2025-01-01T12:00:00.310Z',
  worker: null,
  workflowId: null,
  step: null,
  deadFrom: null,
};

/** 400 unless `status` is a status of the table or a sub-state of `queued`. */
async function checkStatus(courier: HttpCourier, status: string | undefined, field = 'status'): Promise<void> {
  if (status === undefined) return;
  const allowed = [...(await taskStatuses(courier.pool, courier.names)), ...SUB_STATES];
  if (!allowed.includes(status)) throw new HttpProblem('validation', `"${field}" must be one of ${allowed.join(', ')}`, { field });
}

/** Queues and task names for the dashboard's filter menus: registered, configured, and (cheaply) recently seen. */
async function knownQueuesAndNames(courier: HttpCourier): Promise<{ queues: string[]; names: string[] }> {
  const defs = courier.registry.list();
  const [settings, recent] = await Promise.all([
    courier.listQueues(),
    courier.pool.query<{ queue: string; name: string }>(`SELECT DISTINCT queue, name FROM (SELECT queue, name FROM ${courier.names.tasks} ORDER BY id DESC LIMIT 1000) AS t`),
  ]);
  const queues = new Set([...defs.map((d) => d.queue ?? 'default'), ...settings.map((q) => q.name), ...recent.rows.map((r) => r.queue)]);
  const names = new Set([...defs.map((d) => d.name), ...recent.rows.map((r) => r.name)]);
  return { queues: [...queues].sort(), names: [...names].sort() };
}

/** A task's JSON without payload and result. */
export function summary(task: TaskInfo): Omit<TaskInfo, 'payload' | 'result'> {
  const { payload: _p, result: _r, ...rest } = task;
  return { ...rest, errors: rest.errors.slice(-5) };
}

/** 404 for an unknown task; 409 when it exists but is not in a state the action accepts. */
async function actionOutcome(get: (id: string) => Promise<TaskInfo | null>, id: string, done: boolean, conflict: (t: TaskInfo) => string): Promise<TaskInfo> {
  const task = await get(id);
  if (!task) throw new HttpProblem('not-found', `task ${id} does not exist`, { field: 'id' });
  if (!done) throw new HttpProblem('conflict', conflict(task));
  return task;
}

/** Task endpoints: enqueue, read, list, cancel, retry, task types, queue status. */
export const taskRoutes: Route[] = [
  defineRoute({
    operationId: 'enqueueTask',
    method: 'POST',
    path: '/tasks',
    tag: 'tasks',
    summary: 'Enqueue a task',
    description: 'Validates the name (a registered task), the payload (the task\'s schema) and the options, then enqueues. With `options.key`, returns the id of the live task holding that key instead of adding one.',
    access: 'bearer',
    body: enqueueBody,
    responses: { 201: { description: 'Enqueued; `Location` points at the task.', schema: enqueuedSchema, example: { id: '4' } } },
    example: { body: { name: 'send_welcome', payload: { userId: 42 }, options: { priority: 1, queue: 'email' } } },
    async handle({ courier, body, options }) {
      const id = await courier.enqueueTask(body.name, body.payload, body.options);
      return { status: 201, body: { id }, headers: { location: `${options.basePath}/tasks/${id}` } };
    },
  }),
  defineRoute({
    operationId: 'enqueueTasks',
    method: 'POST',
    path: '/tasks/bulk',
    tag: 'tasks',
    summary: 'Enqueue many tasks in one statement',
    description: 'All items are validated before anything is written; the ids come back in input order.',
    access: 'bearer',
    body: enqueueManyBody,
    responses: { 201: { description: 'Enqueued.', schema: enqueuedManySchema, example: { ids: ['5', '6'] } } },
    example: { body: { items: [{ name: 'send_welcome', payload: { userId: 1 } }, { name: 'send_welcome', payload: { userId: 2 }, options: { priority: 2 } }] } },
    async handle({ courier, body }) {
      // The engine reports an unknown name as `name`; say which item.
      for (const [i, item] of body.items.entries()) {
        if (!courier.registry.get(item.name)) throw new HttpProblem('validation', `"items.${i}.name" must be a registered task name`, { field: `items.${i}.name` });
      }
      const ids = await courier.enqueueMany(body.items, body.keyMode ? { keyMode: body.keyMode } : {});
      return { status: 201, body: { ids } };
    },
  }),
  defineRoute({
    operationId: 'listTasks',
    method: 'GET',
    path: '/tasks',
    tag: 'tasks',
    summary: 'List tasks',
    description:
      'Filtered by queue, task name, status (or `delayed`/`retrying`), enqueue time and text in the key or last error; sorted `newest` (default), `oldest` or `priority` (the claim order, so live tasks only: 400 with a finished `status`); keyset pagination through `cursor`, so a deep page costs what the first does.',
    access: 'bearer',
    query: listTasksQuery,
    responses: { 200: { description: 'One page of tasks.', schema: taskPageSchema, example: { tasks: [{ ...exampleTask, workflowId: null, step: null, deadFrom: null }], nextCursor: null } } },
    example: { query: { queue: 'email', status: 'succeeded', limit: '20' } },
    async handle({ courier, query }) {
      const { q, limit, ...rest } = query;
      await checkStatus(courier, rest.status);
      const page = await listTaskPageAcross(courier.databases(), { ...rest, search: q, limit: limit ?? 50 });
      return { status: 200, body: { tasks: page.rows.map((row) => ({ ...toTaskInfo(row), ...taskLinks(row) })), nextCursor: page.nextCursor } };
    },
  }),
  defineRoute({
    operationId: 'countTasks',
    method: 'GET',
    path: '/tasks/counts',
    tag: 'tasks',
    summary: 'Count tasks per status',
    description: 'How many tasks the filter (the fields of `GET /tasks` but `status`) matches, per status; with the statuses the table allows, and the known queues and task names for filter menus. Counts are exact when that is quick, else the planner\'s estimates with `approximate: true`.',
    access: 'bearer',
    query: taskCountsQuery,
    responses: {
      200: {
        description: 'Counts.',
        schema: taskCountsSchema,
        example: {
          counts: { queued: 2, running: 1, succeeded: 40, failed: 3, cancelled: 0, delayed: 1, retrying: 1, total: 46 },
          approximate: false,
          statuses: ['queued', 'running', 'succeeded', 'failed', 'cancelled'],
          queues: ['default', 'email'],
          names: ['send_welcome'],
        },
      },
    },
    example: { query: { queue: 'email' } },
    async handle({ courier, query }) {
      const { q, ...rest } = query;
      const [{ counts, approximate }, statuses, known] = await Promise.all([
        countTasksAcross(courier.databases(), { ...rest, search: q }),
        taskStatuses(courier.pool, courier.names),
        knownQueuesAndNames(courier),
      ]);
      return { status: 200, body: { counts, approximate, statuses, ...known } };
    },
  }),
  defineRoute({
    operationId: 'bulkTaskAction',
    method: 'POST',
    path: '/tasks/actions',
    tag: 'tasks',
    summary: 'Cancel, retry, promote or delete many tasks',
    description:
      'Applies the action to the listed `ids` or to every task `filter` matches, skipping tasks in a state the action does not accept (cancel: live; retry: failed or cancelled; promote: delayed; delete: finished). Runs server-side in batches of 500 rows, each one statement. `dryRun: true` only counts, for a confirmation.',
    access: 'bearer',
    body: bulkActionBody,
    responses: {
      200: { description: 'What was (or would be) done.', schema: bulkResultSchema, example: { action: 'retry', count: 3, dryRun: true, batches: 1, skipped: 0 } },
    },
    example: { body: { action: 'retry', filter: { queue: 'email', status: 'failed' }, dryRun: true } },
    async handle({ courier, body }) {
      if ((body.ids === undefined) === (body.filter === undefined)) throw new HttpProblem('validation', '"ids" must be given, or else "filter" (exactly one of the two)', { field: 'ids' });
      let selection: BulkSelection;
      if (body.ids) selection = { ids: body.ids };
      else {
        const { q, createdAfter, createdBefore, ...rest } = body.filter ?? {};
        await checkStatus(courier, rest.status, 'filter.status');
        const filter: TaskFilter = { ...rest, search: q };
        if (createdAfter !== undefined) filter.createdAfter = new Date(createdAfter);
        if (createdBefore !== undefined) filter.createdBefore = new Date(createdBefore);
        selection = { filter };
      }
      return { status: 200, body: await bulkTaskActionAcross(courier.databases(), body.action, selection, { dryRun: body.dryRun }) };
    },
  }),
  defineRoute({
    operationId: 'getTask',
    method: 'GET',
    path: '/tasks/{id}',
    tag: 'tasks',
    summary: 'Get a task',
    description: 'Status, payload, result, progress, every attempt as a timeline (start, end, duration, worker, error and stack), timestamps, key, priority and retry policy; its workflow or batch and step, and the queue it was dead-lettered from.',
    access: 'bearer',
    params: idParams,
    responses: { 200: { description: 'The task.', schema: taskDetailSchema, example: exampleDetail }, 404: { description: 'No task with this id.' } },
    example: { params: { id: '1' } },
    async handle({ courier, params }) {
      const db = databaseOfTask(courier.databases(), params.id);
      const row = await getTaskRow(db.pool, db.names, params.id);
      if (!row) throw new HttpProblem('not-found', `task ${params.id} does not exist`, { field: 'id' });
      return { status: 200, body: taskDetail(row) };
    },
  }),
  defineRoute({
    operationId: 'cancelTask',
    method: 'POST',
    path: '/tasks/{id}/cancel',
    tag: 'tasks',
    summary: 'Cancel a queued or running task',
    description: 'A running handler\'s result is dropped and its `ctx.signal` aborts at the next lease renewal.',
    access: 'bearer',
    params: idParams,
    responses: {
      200: { description: 'Cancelled; the task as it is now.', schema: taskSchema },
      404: { description: 'No task with this id.' },
      409: { description: 'The task already finished.' },
    },
    example: { params: { id: '2' } },
    async handle({ courier, params }) {
      const done = await courier.cancel(params.id);
      const task = await actionOutcome((id) => courier.getTask(id), params.id, done, (t) => `task ${t.id} is ${t.status}; only queued or running tasks can be cancelled`);
      return { status: 200, body: task };
    },
  }),
  defineRoute({
    operationId: 'retryTask',
    method: 'POST',
    path: '/tasks/{id}/retry',
    tag: 'tasks',
    summary: 'Retry a failed or cancelled task',
    description: 'Puts the task back in its queue to run now with its attempts reset; its error history is kept.',
    access: 'bearer',
    params: idParams,
    responses: {
      200: { description: 'Queued again; the task as it is now.', schema: taskSchema },
      404: { description: 'No task with this id.' },
      409: { description: 'The task is not failed or cancelled, or another live task holds its key.' },
    },
    example: { params: { id: '3' } },
    async handle({ courier, params }) {
      // Another live task holding the key is a ConflictError: 409.
      const done = await courier.retry(params.id);
      const task = await actionOutcome((id) => courier.getTask(id), params.id, done, (t) => `task ${t.id} is ${t.status}; only failed or cancelled tasks can be retried`);
      return { status: 200, body: task };
    },
  }),
  defineRoute({
    operationId: 'promoteTask',
    method: 'POST',
    path: '/tasks/{id}/promote',
    tag: 'tasks',
    summary: 'Run a delayed or retrying task now',
    description: 'Makes a queued task whose `runAt` lies ahead (delayed, or waiting for its retry) due now; its attempts stay as they are.',
    access: 'bearer',
    params: idParams,
    responses: {
      200: { description: 'Due now; the task as it is now.', schema: taskSchema },
      404: { description: 'No task with this id.' },
      409: { description: 'The task is not queued.' },
    },
    example: { params: { id: '3' } },
    async handle({ courier, params }) {
      await courier.promote(params.id);
      const task = await courier.getTask(params.id);
      if (!task) throw new HttpProblem('not-found', `task ${params.id} does not exist`, { field: 'id' });
      return { status: 200, body: task };
    },
  }),
  defineRoute({
    operationId: 'deleteTask',
    method: 'DELETE',
    path: '/tasks/{id}',
    tag: 'tasks',
    summary: 'Delete a finished or cancelled task',
    description: 'Removes a succeeded, failed or cancelled task for good; a queued or running one must be cancelled first.',
    access: 'bearer',
    params: idParams,
    responses: {
      204: { description: 'Deleted.' },
      404: { description: 'No task with this id.' },
      409: { description: 'The task is queued or running.' },
    },
    example: { params: { id: '4' } },
    async handle({ courier, params }) {
      await courier.deleteTask(params.id);
      return { status: 204 };
    },
  }),
  defineRoute({
    operationId: 'listTaskTypes',
    method: 'GET',
    path: '/task-types',
    tag: 'tasks',
    summary: 'Registered task types',
    description: 'The tasks registered in the serving process, with their defaults and payload JSON Schema.',
    access: 'bearer',
    responses: {
      200: {
        description: 'Task types.',
        schema: taskTypesSchema,
        example: { taskTypes: [{ name: 'send_welcome', queue: 'email', priority: 5, maxRetries: 3, retryDelay: 60, timeout: null, payloadSchema: { type: 'object' } }] },
      },
    },
    async handle({ courier }) {
      const taskTypes = courier.registry.list().map((def) => {
        let payloadSchema: Record<string, unknown> | null = null;
        if (def.payload) {
          try {
            payloadSchema = z.toJSONSchema(def.payload, { io: 'input', unrepresentable: 'any' }) as Record<string, unknown>;
          } catch {
            payloadSchema = {};
          }
        }
        return {
          name: def.name,
          queue: def.queue ?? 'default',
          priority: def.priority ?? 5,
          maxRetries: def.maxRetries ?? 3,
          retryDelay: def.retryDelay ?? 60,
          timeout: def.timeout ?? null,
          payloadSchema,
        };
      });
      return { status: 200, body: { taskTypes } };
    },
  }),
  defineRoute({
    operationId: 'getQueueStatus',
    method: 'GET',
    path: '/queue-status',
    tag: 'queues',
    summary: 'Counts per queue',
    description: 'Counts per status per queue and in total, tasks enqueued in the last 24 hours, last update, and the oldest due task\'s `run_at`.',
    access: 'bearer',
    responses: { 200: { description: 'Queue status.', schema: queueStatusSchema } },
    async handle({ courier }) {
      return { status: 200, body: await courier.queueStatus() };
    },
  }),
];
