import { readHistory } from '../../maintenance/history.js';
import type { QueueStatus } from '../../manager.js';
import { toTaskInfo } from '../../task-info.js';
import { listTaskPage } from '../../task-list.js';
import type { HttpCourier } from '../courier-api.js';
import { defineRoute, type OverviewSections, type Route } from '../route.js';
import { healthSchema, historyQuery, historySchema, overviewSchema, workerListSchema } from '../schemas.js';
import { summary } from './tasks.js';

const LIST = 20;

/** How many times its own duration the overview reuses its counts. */
const REUSE_FACTOR = 10;

const countsCache = new WeakMap<HttpCourier, { until: number; counts: Promise<{ status: QueueStatus; at: Date }> }>();

/**
 * The overview's counts per queue and status. They group every row of the task
 * table, so on a big one (0.5-1 s at 1,000,000 rows) they are reused for ten
 * times as long as they took to read: however big the table and however many
 * dashboards are open, counting costs at most a tenth of a connection's time.
 * On a small table (milliseconds) every poll reads them afresh. Concurrent
 * requests share one read.
 */
function overviewCounts(courier: HttpCourier): Promise<{ status: QueueStatus; at: Date }> {
  const hit = countsCache.get(courier);
  if (hit && performance.now() < hit.until) return hit.counts;
  const started = performance.now();
  const counts = courier.queueStatus().then((status) => ({ status, at: new Date() }));
  const entry = { until: Number.POSITIVE_INFINITY, counts };
  countsCache.set(courier, entry);
  counts.then(
    () => {
      const took = performance.now() - started;
      entry.until = performance.now() + (REUSE_FACTOR - 1) * took;
    },
    () => countsCache.delete(courier),
  );
  return counts;
}

/** Health, metrics, workers, the dashboard's overview and the OpenAPI document. */
export const systemRoutes: Route[] = [
  defineRoute({
    operationId: 'getOverview',
    method: 'GET',
    path: '/overview',
    tag: 'dashboard',
    summary: 'Everything the dashboard shows',
    description:
      'Queue counts, queue settings, running, failed and retrying tasks (without payloads), schedules, batches and message counts in one response. The counts group every task, so they are reused for ten times as long as reading them took (`countsAt` says when they were read): fresh on every poll of a small table, a few seconds old on one with millions of tasks.',
    access: 'bearer',
    responses: { 200: { description: 'Overview.', schema: overviewSchema } },
    async handle(ctx) {
      const { courier } = ctx;
      const [{ status, at: countsAt }, running, failed, retrying, queues, schedules, sections] = await Promise.all([
        overviewCounts(courier),
        courier.listTasks({ status: 'running', limit: LIST }),
        courier.listTasks({ status: 'failed', limit: LIST }),
        // Through the live rows' indexes: the core list's generic statement scans the table for this filter.
        listTaskPage(courier.pool, courier.names, { status: 'retrying', limit: LIST }),
        courier.listQueues(),
        courier.listSchedules(),
        Promise.all(courier.extensions('http').map((e) => e.overview?.() ?? Promise.resolve<OverviewSections>({}))),
      ]);
      const plugin: OverviewSections = Object.assign({}, ...sections);
      return {
        status: 200,
        body: {
          now: new Date(),
          refresh: ctx.options.dashboard?.refresh ?? 2,
          status,
          countsAt,
          queues,
          running: running.tasks.map(summary),
          failed: failed.tasks.map(summary),
          retrying: retrying.rows.map((row) => summary(toTaskInfo(row))),
          schedules,
          batches: plugin.batches ?? null,
          messages: plugin.messages ?? null,
          features: { pause: true, schedules: true, messages: plugin.messages !== undefined, batches: plugin.batches !== undefined },
        },
      };
    },
  }),
  defineRoute({
    operationId: 'getHistory',
    method: 'GET',
    path: '/history',
    tag: 'dashboard',
    summary: 'Finished tasks per minute',
    description:
      'Succeeded and failed tasks per minute for the last `minutes` (default 60, at most 1440), in total and per queue. Read from a rollup the workers keep (table `task_history`, a day of minutes) plus a live count of the last seconds, so it survives restarts and task cleanup.',
    access: 'bearer',
    query: historyQuery,
    responses: {
      200: {
        description: 'Per-minute counts, oldest first.',
        schema: historySchema,
        example: { start: '2025-01-01T12:00:00.000Z', step: 60, total: { succeeded: [4, 7], failed: [0, 1] }, queues: { email: { succeeded: [4, 7], failed: [0, 1] } } },
      },
    },
    example: { query: { minutes: '2' } },
    async handle({ courier, query }) {
      return { status: 200, body: await readHistory(courier.pool, courier.names, query.minutes ?? 60) };
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
      const database = await courier.ping();
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
    responses: { 200: { description: 'Metrics.', contentType: 'text/plain; version=0.0.4; charset=utf-8' } },
    async handle({ courier }) {
      return { status: 200, body: await courier.metricsText(), contentType: 'text/plain; version=0.0.4; charset=utf-8' };
    },
  }),
  defineRoute({
    operationId: 'listWorkers',
    method: 'GET',
    path: '/workers',
    tag: 'system',
    summary: 'Worker processes',
    access: 'bearer',
    responses: { 200: { description: 'Workers.', schema: workerListSchema } },
    async handle({ courier }) {
      return { status: 200, body: { workers: await courier.workers() } };
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
