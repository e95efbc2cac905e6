import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { createScheduleBody, scheduleListSchema, scheduleNameSchema, scheduleSchema } from '../schemas.js';

const nameParams = z.object({ name: scheduleNameSchema }).strict();

/** Normalises what `listSchedules()` returns to an array. */
export function scheduleList(result: unknown): Record<string, unknown>[] {
  if (Array.isArray(result)) return result as Record<string, unknown>[];
  const inner = (result as { schedules?: unknown } | null)?.schedules;
  return Array.isArray(inner) ? (inner as Record<string, unknown>[]) : [];
}

/** `false`/`null` from a schedule action means "no such schedule". */
function found(result: unknown, name: string): void {
  if (result === false || result === null) throw new HttpProblem('not-found', `schedule "${name}" does not exist`, { field: 'name' });
}

function scheduleBody(result: unknown, fallback: Record<string, unknown>): Record<string, unknown> {
  return typeof result === 'object' && result !== null && 'name' in result ? (result as Record<string, unknown>) : fallback;
}

/** Cron schedules: list, create, pause, resume, remove. */
export const scheduleRoutes: Route[] = [
  defineRoute({
    operationId: 'listSchedules',
    method: 'GET',
    path: '/schedules',
    tag: 'schedules',
    summary: 'Cron schedules',
    access: 'bearer',
    requires: 'listSchedules',
    responses: { 200: { description: 'Schedules.', schema: scheduleListSchema, example: { schedules: [{ name: 'nightly-report', cron: '0 3 * * *', task: 'send_welcome', paused: false }] } } },
    async handle({ call }) {
      return { status: 200, body: { schedules: scheduleList(await call('listSchedules')) } };
    },
  }),
  defineRoute({
    operationId: 'createSchedule',
    method: 'POST',
    path: '/schedules',
    tag: 'schedules',
    summary: 'Create or replace a schedule',
    description: 'Calls `courier.schedule(name, cron, task, payload, options)`.',
    access: 'bearer',
    requires: 'schedule',
    body: createScheduleBody,
    mapField: (field) => (/^(name|cron|task|payload|options)(\.|$)/.test(field) ? field : `options.${field}`),
    responses: { 201: { description: 'The schedule.', schema: scheduleSchema } },
    example: { body: { name: 'nightly-report', cron: '0 3 * * *', task: 'send_welcome', payload: { userId: 7 } } },
    async handle({ call, body, options }) {
      const result = await call('schedule', body.name, body.cron, body.task, body.payload, body.options ?? {});
      const schedule = scheduleBody(result, { name: body.name, cron: body.cron, task: body.task });
      return { status: 201, body: schedule, headers: { location: `${options.basePath}/schedules/${encodeURIComponent(body.name)}` } };
    },
  }),
  defineRoute({
    operationId: 'pauseSchedule',
    method: 'POST',
    path: '/schedules/{name}/pause',
    tag: 'schedules',
    summary: 'Pause a schedule',
    access: 'bearer',
    requires: 'pauseSchedule',
    params: nameParams,
    responses: { 200: { description: 'The schedule.', schema: scheduleSchema }, 404: { description: 'No such schedule.' } },
    example: { params: { name: 'nightly-report' } },
    async handle({ call, params }) {
      const result = await call('pauseSchedule', params.name);
      found(result, params.name);
      return { status: 200, body: scheduleBody(result, { name: params.name, paused: true }) };
    },
  }),
  defineRoute({
    operationId: 'resumeSchedule',
    method: 'POST',
    path: '/schedules/{name}/resume',
    tag: 'schedules',
    summary: 'Resume a schedule',
    access: 'bearer',
    requires: 'resumeSchedule',
    params: nameParams,
    responses: { 200: { description: 'The schedule.', schema: scheduleSchema }, 404: { description: 'No such schedule.' } },
    example: { params: { name: 'nightly-report' } },
    async handle({ call, params }) {
      const result = await call('resumeSchedule', params.name);
      found(result, params.name);
      return { status: 200, body: scheduleBody(result, { name: params.name, paused: false }) };
    },
  }),
  defineRoute({
    operationId: 'removeSchedule',
    method: 'DELETE',
    path: '/schedules/{name}',
    tag: 'schedules',
    summary: 'Remove a schedule',
    access: 'bearer',
    requires: 'removeSchedule',
    params: nameParams,
    responses: { 204: { description: 'Removed.' }, 404: { description: 'No such schedule.' } },
    example: { params: { name: 'nightly-report' } },
    async handle({ call, params }) {
      found(await call('removeSchedule', params.name), params.name);
      return { status: 204 };
    },
  }),
];
