/**
 * Wire schemas of the HTTP API. The handler validates with them and the OpenAPI
 * document is generated from them (`z.toJSONSchema`), so the two cannot drift.
 * Request schemas are strict (unknown fields are rejected); response schemas
 * allow extra fields so that new engine fields appear without a breaking change.
 */
import { z } from 'zod';
import { queueNameSchema, taskDefaultsSchema, taskNameSchema } from '../config.js';
import { sendBulkInputSchema, sendInputSchema } from '../messages/config.js';

/** Metadata of a named component schema. */
export interface ComponentMeta {
  id: string;
  description?: string;
  [key: string]: unknown;
}

/** Named request schemas (`components.schemas`, generated in input mode). */
export const requestComponents = z.registry<ComponentMeta>();
/** Named response schemas (`components.schemas`, generated in output mode). */
export const responseComponents = z.registry<ComponentMeta>();

const dateTime = z.iso.datetime({ offset: true });
const at = z.iso.datetime();

/** Task ids as the engine hands them out. */
export const taskIdSchema = z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a task id returned by enqueue');
/** Names of schedules. */
export const scheduleNameSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of letters, digits, _ . : -');
/** Ids of messages and batches (opaque to this layer). */
export const opaqueIdSchema = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
/** The task states. */
export const taskStatusSchema = z.enum(['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'], 'must be one of waiting, queued, running, succeeded, failed, cancelled');

// ---------------------------------------------------------------- requests

/** Options of one enqueue over HTTP (JSON: `runAt` is an ISO-8601 string or epoch ms). */
export const enqueueOptionsBody = taskDefaultsSchema
  .extend({
    runAt: z.union([dateTime, z.number().finite()], 'must be an ISO-8601 date-time with offset, or epoch milliseconds').optional(),
    delay: z.number('must be a number of seconds').finite().min(0, 'must be a number of seconds >= 0').optional(),
    key: z.string().min(1, 'must be a non-empty string').max(512, 'must be at most 512 characters').optional(),
    keyMode: z.enum(['keep', 'replace'], 'must be "keep" or "replace"').optional(),
  })
  .strict()
  .register(requestComponents, { id: 'EnqueueOptions', description: 'Per-enqueue options; durations are seconds.' });

/** `POST /tasks`. */
export const enqueueBody = z
  .object({
    name: taskNameSchema,
    payload: z.unknown().optional(),
    options: enqueueOptionsBody.optional(),
  })
  .strict()
  .register(requestComponents, { id: 'EnqueueRequest', description: 'One task: its registered name, payload and options.' });

/** `POST /tasks/bulk`. */
export const enqueueManyBody = z
  .object({
    items: z
      .array(
        z
          .object({ name: taskNameSchema, payload: z.unknown().optional(), options: enqueueOptionsBody.omit({ keyMode: true }).strict().optional() })
          .strict(),
        'must be an array of { name, payload, options }',
      )
      .min(1, 'must hold at least one item')
      .max(1000, 'must hold at most 1000 items'),
    keyMode: z.enum(['keep', 'replace'], 'must be "keep" or "replace"').optional(),
  })
  .strict()
  .register(requestComponents, { id: 'EnqueueManyRequest', description: 'Up to 1000 tasks enqueued in one statement.' });

/** Query of `GET /tasks`. */
export const listTasksQuery = z
  .object({
    queue: queueNameSchema.optional(),
    status: taskStatusSchema.optional(),
    name: taskNameSchema.optional(),
    createdAfter: dateTime.optional(),
    createdBefore: dateTime.optional(),
    limit: z.coerce.number('must be an integer from 1 to 500').int('must be an integer from 1 to 500').min(1, 'must be an integer from 1 to 500').max(500, 'must be an integer from 1 to 500').optional(),
    cursor: z.string().regex(/^[1-9][0-9]{0,18}$/, 'must be a cursor returned by a previous page').optional(),
  })
  .strict();

/** `POST /schedules`. */
export const createScheduleBody = z
  .object({
    name: scheduleNameSchema,
    cron: z.string().min(1, 'must be a cron expression').max(200, 'must be at most 200 characters'),
    task: taskNameSchema,
    payload: z.unknown().optional(),
    options: z.record(z.string(), z.unknown(), 'must be an object of schedule options').optional(),
  })
  .strict()
  .register(requestComponents, { id: 'CreateScheduleRequest', description: 'A cron schedule that enqueues `task` with `payload`; `options` are those of `courier.schedule()`.' });

/** `POST /messages`: messaging's own input schema (`courier.messages.send()`). */
export const sendMessageBody = sendInputSchema.register(requestComponents, {
  id: 'SendMessageRequest',
  description: 'One outbound message: `body`, `html` or `template` (with `variables`); dates as ISO-8601 strings or epoch ms.',
});

/** `POST /batches`: messaging's own input schema (`courier.messages.sendBulk()`). */
export const sendBulkBody = sendBulkInputSchema.register(requestComponents, {
  id: 'SendBulkRequest',
  description: 'A bulk send: one template to many recipients, each with its own variables.',
});

/** `POST /api/tasks/enqueue/` (origin-compatible, snake_case). */
export const originEnqueueBody = z
  .object({
    task_name: taskNameSchema,
    payload: z.unknown().optional(),
    queue: queueNameSchema.optional(),
    priority: z.int('must be an integer from 1 (highest) to 10 (lowest)').min(1, 'must be an integer from 1 (highest) to 10 (lowest)').max(10, 'must be an integer from 1 (highest) to 10 (lowest)').optional(),
    max_retries: z.int('must be an integer >= 0').min(0, 'must be an integer >= 0').max(1000, 'must be at most 1000').optional(),
    retry_delay: z.number('must be a number of seconds').min(0, 'must be a number of seconds >= 0').optional(),
    timeout: z.number('must be a number of seconds').positive('must be a number of seconds > 0').optional(),
    run_at: z.union([dateTime, z.number().finite()], 'must be an ISO-8601 date-time with offset, or epoch milliseconds').optional(),
    key: z.string().min(1, 'must be a non-empty string').max(512, 'must be at most 512 characters').optional(),
  })
  .strict()
  .register(requestComponents, { id: 'OriginEnqueueRequest', description: 'The origin systems\' enqueue body (snake_case).' });

/** Query of `GET /api/tasks/list/`. */
export const originListQuery = z
  .object({
    queue: queueNameSchema.optional(),
    status: taskStatusSchema.optional(),
    task_name: taskNameSchema.optional(),
    created_after: dateTime.optional(),
    created_before: dateTime.optional(),
    limit: listTasksQuery.shape.limit,
    cursor: listTasksQuery.shape.cursor,
  })
  .strict();

// ---------------------------------------------------------------- responses

/** RFC 9457 problem details. */
export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.int(),
    detail: z.string(),
    field: z.string().optional().describe('Dotted path of the invalid field.'),
    allow: z.array(z.string()).optional().describe('Allowed methods (405).'),
  })
  .register(responseComponents, { id: 'Problem', description: 'RFC 9457 problem details (application/problem+json).' });

const taskErrorSchema = z
  .looseObject({ attempt: z.int(), message: z.string(), stack: z.string().optional(), at: z.string() })
  .register(responseComponents, { id: 'TaskError', description: 'One entry of a task\'s error history.' });

const taskFields = {
  id: z.string(),
  name: z.string(),
  queue: z.string(),
  priority: z.int(),
  status: taskStatusSchema,
  attempts: z.int(),
  maxRetries: z.int(),
  runAt: at,
  progress: z.object({ current: z.number(), total: z.number().nullable() }).nullable(),
  lastError: z.string().nullable(),
  errors: z.array(taskErrorSchema),
  key: z.string().nullable(),
  createdAt: at,
  startedAt: at.nullable(),
  finishedAt: at.nullable(),
};

/** A task as `getTask()` returns it, dates as ISO-8601 strings. */
export const taskSchema = z
  .looseObject({ ...taskFields, payload: z.unknown(), result: z.unknown() })
  .register(responseComponents, { id: 'Task', description: 'A task: status, attempts, result, progress and errors.' });

/** A task without payload and result (lists on the dashboard). */
export const taskSummarySchema = z
  .looseObject(taskFields)
  .register(responseComponents, { id: 'TaskSummary', description: 'A task without its payload and result.' });

/** `POST /tasks` response. */
export const enqueuedSchema = z.object({ id: z.string() }).register(responseComponents, { id: 'Enqueued', description: 'Id of the enqueued task (or of the live task holding the same key).' });
/** `POST /tasks/bulk` response. */
export const enqueuedManySchema = z.object({ ids: z.array(z.string()) }).register(responseComponents, { id: 'EnqueuedMany', description: 'Ids in input order.' });
/** `GET /tasks` response. */
export const taskPageSchema = z
  .object({ tasks: z.array(taskSchema), nextCursor: z.string().nullable() })
  .register(responseComponents, { id: 'TaskPage', description: 'Newest first; pass `nextCursor` as `cursor` for the next page.' });

/** `GET /task-types` response. */
export const taskTypesSchema = z
  .object({
    taskTypes: z.array(
      z.looseObject({
        name: z.string(),
        queue: z.string(),
        priority: z.int(),
        maxRetries: z.int(),
        retryDelay: z.number(),
        timeout: z.number().nullable(),
        payloadSchema: z.record(z.string(), z.unknown()).nullable().describe('JSON Schema of the payload, when the task declares one.'),
      }),
    ),
  })
  .register(responseComponents, { id: 'TaskTypes', description: 'Tasks registered in this process.' });

const queueCountsSchema = z
  .looseObject({
    queued: z.int(),
    running: z.int(),
    succeeded: z.int(),
    failed: z.int(),
    cancelled: z.int(),
    total: z.int(),
    last24h: z.int().describe('Tasks enqueued in the last 24 hours.'),
    lastUpdated: at.nullable(),
    oldestQueuedAt: at.nullable().describe('run_at of the oldest task waiting to run (due now).'),
  })
  .register(responseComponents, { id: 'QueueCounts', description: 'Counts of one queue (or of all).' });

/** `GET /queue-status` response. */
export const queueStatusSchema = z
  .object({ queues: z.record(z.string(), queueCountsSchema), total: queueCountsSchema })
  .register(responseComponents, { id: 'QueueStatus', description: 'Counts per status per queue and in total.' });

/** Settings of a queue (from `listQueues()`). */
export const queueSettingsSchema = z
  .looseObject({ name: z.string(), paused: z.boolean() })
  .register(responseComponents, { id: 'QueueSettings', description: 'A queue\'s shared settings, including whether it is paused.' });
/** `GET /queues` response. */
export const queueListSchema = z.object({ queues: z.array(queueSettingsSchema) }).register(responseComponents, { id: 'QueueList' });

/** A schedule (from `listSchedules()`). */
export const scheduleSchema = z.looseObject({ name: z.string() }).register(responseComponents, { id: 'Schedule', description: 'A cron schedule as `listSchedules()` returns it.' });
/** `GET /schedules` response. */
export const scheduleListSchema = z.object({ schedules: z.array(scheduleSchema) }).register(responseComponents, { id: 'ScheduleList' });

/** `GET /workers` response. */
export const workerListSchema = z
  .object({ workers: z.array(z.looseObject({})) })
  .register(responseComponents, { id: 'WorkerList', description: 'Worker processes as `workers()` returns them.' });

/** `GET /health` response. */
export const healthSchema = z
  .object({
    status: z.enum(['ok', 'unavailable']),
    database: z.boolean().describe('Whether a `SELECT 1` succeeded.'),
    processor: z.looseObject({}).describe('This process\'s processor, as `courier.health()` returns it.'),
  })
  .register(responseComponents, { id: 'Health' });

/** A message (from `messages.get()`). */
export const messageSchema = z.looseObject({ id: z.string(), status: z.string() }).register(responseComponents, { id: 'Message', description: 'An outbound message as `messages.get()` returns it.' });
/** `POST /messages` and `POST /batches` response. */
export const messageSentSchema = z.object({ id: z.string() }).register(responseComponents, { id: 'Created', description: 'Id of the message or batch.' });
/** `GET /messages/status` response. */
export const messageStatusSchema = z
  .looseObject({})
  .register(responseComponents, { id: 'MessageStatus', description: 'Message counts per channel and status, as `messages.status()` returns them.' });
/** A bulk-send batch. */
export const batchSchema = z.looseObject({}).register(responseComponents, { id: 'Batch', description: 'A bulk-send batch with progress `{ total, completed, failed, active, progress }`.' });
/** `GET /batches` response. */
export const batchListSchema = z.object({ batches: z.array(batchSchema) }).register(responseComponents, { id: 'BatchList' });

/** `GET /overview` response: everything the dashboard shows, in one request. */
export const overviewSchema = z
  .object({
    now: at,
    refresh: z.number().describe('Seconds between dashboard refreshes.'),
    status: queueStatusSchema,
    queues: z.array(queueSettingsSchema).nullable(),
    running: z.array(taskSummarySchema),
    failed: z.array(taskSummarySchema),
    retrying: z.array(taskSummarySchema).describe('Queued tasks whose last attempt failed.'),
    schedules: z.array(scheduleSchema).nullable(),
    batches: z.array(batchSchema).nullable(),
    messages: messageStatusSchema.nullable(),
    features: z.object({ pause: z.boolean(), schedules: z.boolean(), messages: z.boolean(), batches: z.boolean() }),
  })
  .register(responseComponents, { id: 'Overview', description: 'Counts, running and failed tasks, queues, schedules and batches; `null` where this build lacks the feature.' });

const originCountsSchema = z.looseObject({
  queued: z.int(),
  running: z.int(),
  succeeded: z.int(),
  failed: z.int(),
  cancelled: z.int(),
  total: z.int(),
  last_24h: z.int(),
  last_updated: at.nullable(),
});

/** Origin-compatible task shape (snake_case). */
export const originTaskSchema = z
  .looseObject({
    task_id: z.string(),
    task_name: z.string(),
    queue: z.string(),
    status: taskStatusSchema,
    priority: z.int(),
    attempts: z.int(),
    max_retries: z.int(),
    payload: z.unknown(),
    result: z.unknown(),
    progress: z.object({ current: z.number(), total: z.number().nullable() }).nullable(),
    error: z.string().nullable(),
    errors: z.array(taskErrorSchema),
    run_at: at,
    created_at: at,
    started_at: at.nullable(),
    completed_at: at.nullable(),
  })
  .register(responseComponents, { id: 'OriginTask', description: 'A task in the origin systems\' snake_case shape.' });
/** `POST /api/tasks/enqueue/` response. */
export const originEnqueuedSchema = z.object({ task_id: z.string(), status: taskStatusSchema }).register(responseComponents, { id: 'OriginEnqueued' });
/** `GET /api/tasks/list/` response. */
export const originTaskListSchema = z
  .object({ tasks: z.array(originTaskSchema), count: z.int(), next_cursor: z.string().nullable() })
  .register(responseComponents, { id: 'OriginTaskList' });
/** `GET /api/tasks/queue-status/` response. */
export const originQueueStatusSchema = z
  .object({ queues: z.record(z.string(), originCountsSchema), total: originCountsSchema })
  .register(responseComponents, { id: 'OriginQueueStatus' });
