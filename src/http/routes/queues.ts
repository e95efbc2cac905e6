import { z } from 'zod';
import { queueNameSchema } from '../../config.js';
import { type QueueOptions, queueExists } from '../../queues.js';
import type { HttpCourier } from '../courier-api.js';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { configureQueueBody, queueListSchema, queueSettingsSchema } from '../schemas.js';

const queueParams = z.object({ queue: queueNameSchema }).strict();

/**
 * 404 unless the queue exists: a registered task's queue, a queue with settings,
 * or one that holds tasks. Acting on a mistyped name must not create a queue.
 */
async function assertQueue(courier: HttpCourier, queue: string): Promise<void> {
  if (courier.registry.list().some((d) => (d.queue ?? 'default') === queue)) return;
  if (!(await queueExists(courier.pool, courier.names, queue))) throw new HttpProblem('not-found', `queue "${queue}" does not exist (no task, setting or registered task uses it)`, { field: 'queue' });
}

const example = {
  name: 'email',
  paused: false,
  concurrency: 5,
  rateLimit: { limit: 100, per: 60 },
  groupConcurrency: { default: 2, tiers: { gold: 10 } },
  groupRateLimit: null,
  fair: null,
  deadLetter: 'email.dead',
  updatedAt: '2025-01-01T12:00:00.000Z',
};

/** Queue settings: list, configure, pause, resume. */
export const queueRoutes: Route[] = [
  defineRoute({
    operationId: 'listQueues',
    method: 'GET',
    path: '/queues',
    tag: 'queues',
    summary: 'Queue settings',
    description: 'Every queue with settings (paused, limits), as `courier.listQueues()` returns them.',
    access: 'bearer',
    responses: { 200: { description: 'Queues.', schema: queueListSchema, example: { queues: [example] } } },
    async handle({ courier }) {
      return { status: 200, body: { queues: await courier.listQueues() } };
    },
  }),
  defineRoute({
    operationId: 'configureQueue',
    method: 'POST',
    path: '/queues/{queue}',
    tag: 'queues',
    summary: 'Set a queue\'s limits and flow control',
    description:
      'Cluster-wide `concurrency` and `rateLimit` (`"100/m"`), per-group `groupConcurrency` and `groupRateLimit`, `fair` and `deadLetter`, as `courier.configureQueue()`; `null` removes a setting, an absent field keeps it. The queue must exist.',
    access: 'bearer',
    params: queueParams,
    body: configureQueueBody,
    responses: {
      200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example },
      404: { description: 'No such queue.' },
    },
    example: { params: { queue: 'email' }, body: { concurrency: 5, rateLimit: '100/m', groupConcurrency: { default: 2, tiers: { gold: 10 } }, deadLetter: 'email.dead' } },
    async handle({ courier, params, body }) {
      await assertQueue(courier, params.queue);
      return { status: 200, body: await courier.configureQueue(params.queue, body as QueueOptions) };
    },
  }),
  defineRoute({
    operationId: 'pauseQueue',
    method: 'POST',
    path: '/queues/{queue}/pause',
    tag: 'queues',
    summary: 'Pause a queue',
    description: 'No process starts new tasks of the queue; running ones finish. The queue must exist (a task in any state, settings or a registered task names it); else 404 and nothing is created.',
    access: 'bearer',
    params: queueParams,
    responses: { 200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example: { ...example, paused: true } }, 404: { description: 'No such queue.' } },
    example: { params: { queue: 'email' } },
    async handle({ courier, params }) {
      await assertQueue(courier, params.queue);
      return { status: 200, body: await courier.pauseQueue(params.queue) };
    },
  }),
  defineRoute({
    operationId: 'resumeQueue',
    method: 'POST',
    path: '/queues/{queue}/resume',
    tag: 'queues',
    summary: 'Resume a queue',
    description: 'Lets the queue\'s tasks start again and wakes the workers. The queue must exist.',
    access: 'bearer',
    params: queueParams,
    responses: { 200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example }, 404: { description: 'No such queue.' } },
    example: { params: { queue: 'email' } },
    async handle({ courier, params }) {
      await assertQueue(courier, params.queue);
      return { status: 200, body: await courier.resumeQueue(params.queue) };
    },
  }),
];
