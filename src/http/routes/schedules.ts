import { z } from 'zod';
import { cronError, nextTick } from '../../scheduler/cron.js';
import type { HttpCourier } from '../courier-api.js';
import { HttpProblem } from '../problem.js';
import { defineRoute, type Route } from '../route.js';
import { createScheduleBody, scheduleListSchema, scheduleNameSchema, schedulePreviewBody, schedulePreviewSchema, scheduleSchema } from '../schemas.js';

const nameParams = z.object({ name: scheduleNameSchema }).strict();

/** `false` from a schedule action means "no such schedule". */
function found(exists: boolean, name: string): void {
  if (!exists) throw new HttpProblem('not-found', `schedule "${name}" does not exist`, { field: 'name' });
}

/** The schedule as it is now (after a pause or resume). */
async function current(courier: HttpCourier, name: string) {
  const schedule = (await courier.listSchedules()).find((s) => s.name === name);
  if (!schedule) throw new HttpProblem('not-found', `schedule "${name}" does not exist`, { field: 'name' });
  return schedule;
}

const example = {
  name: 'nightly-report',
  cron: '0 3 * * *',
  timezone: 'UTC',
  task: 'send_welcome',
  payload: { userId: 7 },
  options: {},
  backfill: 0,
  paused: false,
  nextRunAt: '2025-01-02T03:00:00.000Z',
  lastRunAt: null,
};

/** Cron schedules: list, create, preview, pause, resume, remove. */
export const scheduleRoutes: Route[] = [
  defineRoute({
    operationId: 'listSchedules',
    method: 'GET',
    path: '/schedules',
    tag: 'schedules',
    summary: 'Cron schedules',
    access: 'bearer',
    responses: { 200: { description: 'Schedules.', schema: scheduleListSchema, example: { schedules: [example] } } },
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
    responses: { 201: { description: 'The schedule.', schema: scheduleSchema, example } },
    example: { body: { name: 'nightly-report', cron: '0 3 * * *', task: 'send_welcome', payload: { userId: 7 } } },
    async handle({ courier, body, options }) {
      const schedule = await courier.schedule(body.name, body.cron, body.task, body.payload, body.options ?? {});
      return { status: 201, body: schedule, headers: { location: `${options.basePath}/schedules/${encodeURIComponent(body.name)}` } };
    },
  }),
  defineRoute({
    operationId: 'previewSchedule',
    method: 'POST',
    path: '/schedule-preview',
    tag: 'schedules',
    summary: 'Check a cron expression and list its next runs',
    description: 'Validates `cron` and `timezone` as `POST /schedules` does and returns the next `count` runs (default 5); changes nothing.',
    access: 'bearer',
    body: schedulePreviewBody,
    responses: { 200: { description: 'The next runs.', schema: schedulePreviewSchema, example: { nextRuns: ['2025-01-02T03:00:00.000Z', '2025-01-03T03:00:00.000Z'] } } },
    example: { body: { cron: '0 3 * * *', timezone: 'Europe/Paris', count: 2 } },
    async handle({ body }) {
      const timezone = body.timezone ?? 'UTC';
      const problem = cronError(body.cron, timezone);
      if (problem) throw new HttpProblem('validation', `"${problem.field}" ${problem.expected}`, { field: problem.field });
      const nextRuns: Date[] = [];
      let after = new Date();
      for (let i = 0; i < (body.count ?? 5); i++) {
        after = nextTick(body.cron, timezone, after);
        nextRuns.push(after);
      }
      return { status: 200, body: { nextRuns } };
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
      return { status: 200, body: await current(courier, params.name) };
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
      return { status: 200, body: await current(courier, params.name) };
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
