import { z } from 'zod';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { createScheduleBody, scheduleListSchema, scheduleNameSchema, scheduleSchema } from '../schemas.js';

const nameParams = z.object({ name: scheduleNameSchema }).strict();

/** `false` from a schedule action means "no such schedule". */
function found(exists: boolean, name: string): void {
  if (!exists) throw new HttpProblem('not-found', `schedule "${name}" does not exist`, { field: 'name' });
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
    responses: { 200: { description: 'Schedules.', schema: scheduleListSchema, example: { schedules: [{ name: 'nightly-report', cron: '0 3 * * *', task: 'send_welcome', paused: false }] } } },
    async handle({ courier }) {
      return { status: 200, body: { schedules: await courier.listSchedules() } };
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
    body: createScheduleBody,
    mapField: (field) => (/^(name|cron|task|payload|options)(\.|$)/.test(field) ? field : `options.${field}`),
    responses: { 201: { description: 'The schedule.', schema: scheduleSchema } },
    example: { body: { name: 'nightly-report', cron: '0 3 * * *', task: 'send_welcome', payload: { userId: 7 } } },
    async handle({ courier, body, options }) {
      const schedule = await courier.schedule(body.name, body.cron, body.task, body.payload, body.options ?? {});
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
    params: nameParams,
    responses: { 200: { description: 'The schedule.', schema: scheduleSchema }, 404: { description: 'No such schedule.' } },
    example: { params: { name: 'nightly-report' } },
    async handle({ courier, params }) {
      found(await courier.pauseSchedule(params.name), params.name);
      return { status: 200, body: { name: params.name, paused: true } };
    },
  }),
  defineRoute({
    operationId: 'resumeSchedule',
    method: 'POST',
    path: '/schedules/{name}/resume',
    tag: 'schedules',
    summary: 'Resume a schedule',
    access: 'bearer',
    params: nameParams,
    responses: { 200: { description: 'The schedule.', schema: scheduleSchema }, 404: { description: 'No such schedule.' } },
    example: { params: { name: 'nightly-report' } },
    async handle({ courier, params }) {
      found(await courier.resumeSchedule(params.name), params.name);
      return { status: 200, body: { name: params.name, paused: false } };
    },
  }),
  defineRoute({
    operationId: 'removeSchedule',
    method: 'DELETE',
    path: '/schedules/{name}',
    tag: 'schedules',
    summary: 'Remove a schedule',
    access: 'bearer',
    params: nameParams,
    responses: { 204: { description: 'Removed.' }, 404: { description: 'No such schedule.' } },
    example: { params: { name: 'nightly-report' } },
    async handle({ courier, params }) {
      found(await courier.removeSchedule(params.name), params.name);
      return { status: 204 };
    },
  }),
];
