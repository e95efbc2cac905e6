import { z } from 'zod';
import { queueNameSchema } from '../../config.js';
import { defineRoute, type Route } from '../route.js';
import { queueListSchema, queueSettingsSchema } from '../schemas.js';

const queueParams = z.object({ queue: queueNameSchema }).strict();

/** The settings object a pause/resume call returned, or a minimal one. */
function settings(result: unknown, queue: string, paused: boolean): Record<string, unknown> {
  if (typeof result === 'object' && result !== null && 'name' in result && 'paused' in result) return result as Record<string, unknown>;
  return { name: queue, paused };
}

/** Normalises what `listQueues()` returns to an array of settings. */
export function queueList(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  if (result && typeof result === 'object') {
    const inner = (result as { queues?: unknown }).queues;
    if (Array.isArray(inner)) return inner as Record<string, unknown>[];
    return Object.entries(result as Record<string, unknown>).map(([name, v]) => ({ name, ...(v as object) }));
  }
  return [];
}

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
    requires: 'listQueues',
    responses: { 200: { description: 'Queues.', schema: queueListSchema, example: { queues: [{ name: 'email', paused: false }] } } },
    async handle({ call }) {
      return { status: 200, body: { queues: queueList(await call('listQueues')) } };
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
    requires: 'pauseQueue',
    params: queueParams,
    responses: { 200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example: { name: 'email', paused: true } } },
    example: { params: { queue: 'email' } },
    async handle({ call, params }) {
      return { status: 200, body: settings(await call('pauseQueue', params.queue), params.queue, true) };
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
    requires: 'resumeQueue',
    params: queueParams,
    responses: { 200: { description: 'The queue\'s settings.', schema: queueSettingsSchema, example: { name: 'email', paused: false } } },
    example: { params: { queue: 'email' } },
    async handle({ call, params }) {
      return { status: 200, body: settings(await call('resumeQueue', params.queue), params.queue, false) };
    },
  }),
];
