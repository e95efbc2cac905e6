import { z } from 'zod';
import { queueNameSchema } from '../../config.js';
import { defineRoute, type Route } from '../route.js';
import { queueListSchema, queueSettingsSchema } from '../schemas.js';

const queueParams = z.object({ queue: queueNameSchema }).strict();

/** Queue settings: list, pause, resume. */
export const queueRoutes: Route[] = [
  defineRoute({
    operationId: 'listQueues',
    method: 'GET',
    path: '/queues',
    tag: 'queues',
    summary: 'Queue settings',
    description: 'Every queue with settings (paused, limits), as `courier.listQueues()` returns them.',
    access: 'bearer',
    responses: { 200: { description: 'Queues.', schema: queueListSchema, example: { queues: [{ name: 'email', paused: false }] } } },
    async handle({ courier }) {
      return { status: 200, body: { queues: await courier.listQueues() } };
    },
  }),
  defineRoute({
    operationId: 'pauseQueue',
    method: 'POST',
    path: '/queues/{queue}/pause',
    tag: 'queues',
    summary: 'Pause a queue',
    description: 'No process starts new tasks of the queue; running ones finish.',
    access: 'bearer',
    params: queueParams,
    responses: { 200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example: { name: 'email', paused: true } } },
    example: { params: { queue: 'email' } },
    async handle({ courier, params }) {
      return { status: 200, body: await courier.pauseQueue(params.queue) };
    },
  }),
  defineRoute({
    operationId: 'resumeQueue',
    method: 'POST',
    path: '/queues/{queue}/resume',
    tag: 'queues',
    summary: 'Resume a queue',
    description: 'Lets the queue\'s tasks start again and wakes the workers.',
    access: 'bearer',
    params: queueParams,
    responses: { 200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example: { name: 'email', paused: false } } },
    example: { params: { queue: 'email' } },
    async handle({ courier, params }) {
      return { status: 200, body: await courier.resumeQueue(params.queue) };
    },
  }),
];
