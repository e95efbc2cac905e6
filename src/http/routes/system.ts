import { toTaskInfo } from '../../task-info.js';
import { has } from '../features.js';
import { defineRoute, type Route } from '../route.js';
import { healthSchema, overviewSchema, workerListSchema } from '../schemas.js';
import { retryingTasks } from '../sql/retrying-tasks.js';
import { batchList } from './messages.js';
import { queueList } from './queues.js';
import { scheduleList } from './schedules.js';
import { queueStatusWithAge, summary } from './tasks.js';

const LIST = 20;

/** Health, metrics, workers, the dashboard's overview and the OpenAPI document. */
export const systemRoutes: Route[] = [
  defineRoute({
    operationId: 'getOverview',
    method: 'GET',
    path: '/overview',
    tag: 'dashboard',
    summary: 'Everything the dashboard shows',
    description: 'Queue counts, queue settings, running, failed and retrying tasks (without payloads), schedules, batches and message counts in one response.',
    access: 'bearer',
    responses: { 200: { description: 'Overview.', schema: overviewSchema } },
    async handle(ctx) {
      const { courier, call } = ctx;
      const optional = async (path: string): Promise<unknown> => (has(courier, path) ? call(path) : null);
      const [status, running, failed, retrying, queues, schedules, batches, messages] = await Promise.all([
        queueStatusWithAge(ctx),
        courier.listTasks({ status: 'running', limit: LIST }),
        courier.listTasks({ status: 'failed', limit: LIST }),
        retryingTasks(courier.pool, courier.schema, LIST),
        optional('listQueues'),
        optional('listSchedules'),
        optional('messages.listBatches'),
        optional('messages.status'),
      ]);
      return {
        status: 200,
        body: {
          now: new Date(),
          refresh: ctx.options.dashboard?.refresh ?? 2,
          status,
          queues: queues === null ? null : queueList(queues),
          running: running.tasks.map(summary),
          failed: failed.tasks.map(summary),
          retrying: retrying.map((r) => summary(toTaskInfo(r))),
          schedules: schedules === null ? null : scheduleList(schedules),
          batches: batches === null ? null : batchList(batches),
          messages: messages ?? null,
          features: {
            pause: has(courier, 'pauseQueue') && has(courier, 'resumeQueue'),
            schedules: has(courier, 'listSchedules') && has(courier, 'pauseSchedule') && has(courier, 'resumeSchedule'),
            messages: has(courier, 'messages.status'),
            batches: has(courier, 'messages.listBatches'),
          },
        },
      };
    },
  }),
  defineRoute({
    operationId: 'getHealth',
    method: 'GET',
    path: '/health',
    tag: 'system',
    summary: 'Health and readiness',
    description: 'Public: 200 when the database answers, 503 otherwise; includes this process\'s processor state.',
    access: 'public',
    responses: {
      200: { description: 'Healthy.', schema: healthSchema, example: { status: 'ok', database: true, processor: { running: true, listening: true, lastClaimAt: null, active: 0 } } },
      503: { description: 'The database did not answer.', schema: healthSchema },
    },
    async handle({ courier }) {
      const database = await courier.pool.query('SELECT 1').then(
        () => true,
        () => false,
      );
      return { status: database ? 200 : 503, body: { status: database ? 'ok' : 'unavailable', database, processor: courier.health() } };
    },
  }),
  defineRoute({
    operationId: 'getMetrics',
    method: 'GET',
    path: '/metrics',
    tag: 'system',
    summary: 'Prometheus metrics',
    description: 'The text exposition format, as `courier.metricsText()` renders it.',
    access: 'bearer',
    requires: 'metricsText',
    responses: { 200: { description: 'Metrics.', contentType: 'text/plain; version=0.0.4; charset=utf-8' } },
    async handle({ call }) {
      const text = await call('metricsText');
      return { status: 200, body: String(text ?? ''), contentType: 'text/plain; version=0.0.4; charset=utf-8' };
    },
  }),
  defineRoute({
    operationId: 'listWorkers',
    method: 'GET',
    path: '/workers',
    tag: 'system',
    summary: 'Worker processes',
    access: 'bearer',
    requires: 'workers',
    responses: { 200: { description: 'Workers.', schema: workerListSchema } },
    async handle({ call }) {
      const result = await call('workers');
      const workers = Array.isArray(result) ? result : ((result as { workers?: unknown[] } | null)?.workers ?? []);
      return { status: 200, body: { workers } };
    },
  }),
  defineRoute({
    operationId: 'getOpenApi',
    method: 'GET',
    path: '/openapi.json',
    tag: 'system',
    summary: 'This document',
    description: 'The OpenAPI 3.1 document, generated from the schemas the handler validates with.',
    access: 'public',
    responses: { 200: { description: 'OpenAPI 3.1 document.' } },
    async handle({ openapi }) {
      return { status: 200, body: openapi() };
    },
  }),
];
