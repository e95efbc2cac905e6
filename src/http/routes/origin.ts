import { z } from 'zod';
import type { QueueCounts } from '../../manager.js';
import type { TaskInfo } from '../../task-info.js';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { originEnqueueBody, originEnqueuedSchema, originListQuery, originQueueStatusSchema, originTaskListSchema, originTaskSchema, taskIdSchema } from '../schemas.js';

/** A task in the origin systems' snake_case shape. */
export function originTask(t: TaskInfo) {
  return {
    task_id: t.id,
    task_name: t.name,
    queue: t.queue,
    status: t.status,
    priority: t.priority,
    attempts: t.attempts,
    max_retries: t.maxRetries,
    payload: t.payload,
    result: t.result,
    progress: t.progress,
    error: t.lastError,
    errors: t.errors,
    run_at: t.runAt,
    created_at: t.createdAt,
    started_at: t.startedAt,
    completed_at: t.finishedAt,
  };
}

function originCounts(c: QueueCounts) {
  return {
    queued: c.queued,
    running: c.running,
    succeeded: c.succeeded,
    failed: c.failed,
    cancelled: c.cancelled,
    total: c.total,
    last_24h: c.last24h,
    last_updated: c.lastUpdated,
  };
}

/** Core field names back to the origin body's names, for error messages. */
const originField: Record<string, string> = { name: 'task_name', maxRetries: 'max_retries', retryDelay: 'retry_delay', runAt: 'run_at' };

/** Translates a core field name of an origin request into the name the client sent. */
export function toOriginField(field: string): string {
  const [head, ...rest] = field.split('.');
  return [originField[head ?? ''] ?? head, ...rest].join('.');
}

/**
 * Origin-compatible aliases: the paths (with their trailing slashes) and
 * snake_case shapes of the systems pgcourier replaces, over the same engine.
 */
export const originRoutes: Route[] = [
  defineRoute({
    operationId: 'originEnqueueTask',
    method: 'POST',
    path: '/api/tasks/enqueue/',
    tag: 'origin-compatible',
    summary: 'Enqueue a task (origin-compatible)',
    access: 'bearer',
    body: originEnqueueBody,
    mapField: toOriginField,
    responses: { 201: { description: 'Enqueued.', schema: originEnqueuedSchema, example: { task_id: '7', status: 'queued' } } },
    example: { body: { task_name: 'send_welcome', payload: { userId: 9 }, priority: 1, max_retries: 3, retry_delay: 60 } },
    async handle({ courier, body, options }) {
      const { task_name, payload, max_retries, retry_delay, run_at, ...rest } = body;
      const id = await courier.enqueueTask(task_name, payload, { ...rest, maxRetries: max_retries, retryDelay: retry_delay, runAt: run_at });
      const task = await courier.getTask(id);
      return { status: 201, body: { task_id: id, status: task?.status ?? 'queued' }, headers: { location: `${options.basePath}/api/tasks/status/${id}/` } };
    },
  }),
  defineRoute({
    operationId: 'originGetTask',
    method: 'GET',
    path: '/api/tasks/status/{id}/',
    tag: 'origin-compatible',
    summary: 'Get a task (origin-compatible)',
    access: 'bearer',
    params: z.object({ id: taskIdSchema }).strict(),
    responses: { 200: { description: 'The task.', schema: originTaskSchema }, 404: { description: 'No task with this id.' } },
    example: { params: { id: '1' } },
    async handle({ courier, params }) {
      const task = await courier.getTask(params.id);
      if (!task) throw new HttpProblem('not-found', `task ${params.id} does not exist`, { field: 'id' });
      return { status: 200, body: originTask(task) };
    },
  }),
  defineRoute({
    operationId: 'originListTasks',
    method: 'GET',
    path: '/api/tasks/list/',
    tag: 'origin-compatible',
    summary: 'List tasks (origin-compatible)',
    access: 'bearer',
    query: originListQuery,
    responses: { 200: { description: 'One page of tasks, newest first.', schema: originTaskListSchema } },
    example: { query: { status: 'succeeded', limit: '10' } },
    async handle({ courier, query }) {
      const page = await courier.listTasks({
        queue: query.queue,
        status: query.status,
        name: query.task_name,
        createdAfter: query.created_after,
        createdBefore: query.created_before,
        limit: query.limit,
        cursor: query.cursor,
      });
      return { status: 200, body: { tasks: page.tasks.map(originTask), count: page.tasks.length, next_cursor: page.nextCursor } };
    },
  }),
  defineRoute({
    operationId: 'originQueueStatus',
    method: 'GET',
    path: '/api/tasks/queue-status/',
    tag: 'origin-compatible',
    summary: 'Queue status (origin-compatible)',
    access: 'bearer',
    responses: { 200: { description: 'Counts per queue and in total.', schema: originQueueStatusSchema } },
    async handle({ courier }) {
      const status = await courier.queueStatus();
      const queues = Object.fromEntries(Object.entries(status.queues).map(([name, c]) => [name, originCounts(c)]));
      return { status: 200, body: { queues, total: originCounts(status.total) } };
    },
  }),
];
