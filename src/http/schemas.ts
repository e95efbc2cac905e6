/**
 * Wire schemas of the HTTP API. The handler validates with them and the OpenAPI
 * document is generated from them (`z.toJSONSchema`), so the two cannot drift.
 * Request schemas are strict (unknown fields are rejected); response schemas
 * allow extra fields so that new engine fields appear without a breaking change.
 */
import { z } from 'zod';
import { queueNameSchema, taskDefaultsSchema, taskNameSchema } from '../config.js';
import { isTaskId } from '../db/task-id.js';
import { flowEnqueueShape } from '../flow/options.js';
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

/** Task ids as the engine hands them out (Postgres `bigint`, so at most 9223372036854775807). */
export const taskIdSchema = z.string().refine(isTaskId, 'must be a task id returned by enqueue (an integer from 1 to 9223372036854775807)');
/** Names of schedules. */
export const scheduleNameSchema = z.string().regex(/^[A-Za-z0-9_.:-]{1,128}$/, 'must be 1-128 characters of letters, digits, _ . : -');
/** Ids of messages and batches (opaque to this layer). */
export const opaqueIdSchema = z.string().min(1, 'must not be empty').max(200, 'must be at most 200 characters');
/**
 * A task status in responses: one of the statuses the task table allows
 * (`queued`, `running`, `succeeded`, `failed`, `cancelled`, and any a later
 * migration adds); `GET /task-statuses` lists them.
 */
export const taskStatusSchema = z.string().describe('One of the statuses the task table allows; `GET /tasks/counts` lists them all.');
/**
 * A status filter as sent: a status of the table, or a sub-state of `queued`
 * (`delayed`, `retrying`). The handler checks it against the table's statuses.
 */
export const statusFilterSchema = z
  .string()
  .regex(/^[a-z_]{1,32}$/, 'must be a task status (queued, running, succeeded, failed, cancelled, …) or delayed, retrying')
  .describe('A status of the table (`queued`, `running`, `succeeded`, `failed`, `cancelled`, …) or a sub-state of `queued`: `delayed`, `retrying`.');
/** A time in a query: ISO-8601 with offset, or epoch milliseconds. */
const queryTime = z
  .union([dateTime, z.string().regex(/^[0-9]{11,15}$/)], 'must be an ISO-8601 date-time with offset, or epoch milliseconds')
  .transform((v) => new Date(/^[0-9]+$/.test(v) ? Number(v) : v))
  .describe('ISO-8601 date-time with offset, or epoch milliseconds.');
const pageLimit = z.coerce
  .number('must be an integer from 1 to 500')
  .int('must be an integer from 1 to 500')
  .min(1, 'must be an integer from 1 to 500')
  .max(500, 'must be an integer from 1 to 500');

// ---------------------------------------------------------------- requests

/** Options of one enqueue over HTTP (JSON: `runAt` is an ISO-8601 string or epoch ms). */
export const enqueueOptionsBody = taskDefaultsSchema
  .extend({
    runAt: z.union([dateTime, z.number().finite()], 'must be an ISO-8601 date-time with offset, or epoch milliseconds').optional(),
    delay: z.number('must be a number of seconds').finite().min(0, 'must be a number of seconds >= 0').optional(),
    key: z.string().min(1, 'must be a non-empty string').max(512, 'must be at most 512 characters').optional(),
    keyMode: z.enum(['keep', 'replace'], 'must be "keep" or "replace"').optional(),
    ...flowEnqueueShape,
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

/** The filter fields shared by `GET /tasks`, `GET /tasks/counts` and bulk actions. */
const taskFilterFields = {
  queue: queueNameSchema.optional(),
  name: taskNameSchema.optional(),
  status: statusFilterSchema.optional(),
  createdAfter: queryTime.optional(),
  createdBefore: queryTime.optional(),
  q: z.string().max(200, 'must be at most 200 characters').optional().describe('Case-insensitive text in the key or the last error message; a task id finds that task.'),
};

/** Query of `GET /tasks`. */
export const listTasksQuery = z
  .object({
    ...taskFilterFields,
    sort: z.enum(['newest', 'oldest', 'priority'], 'must be newest, oldest or priority').optional().describe('`newest` (default) and `oldest` by id; `priority` in claim order (priority, due time, id).'),
    limit: pageLimit.optional(),
    cursor: z
      .string()
      .regex(/^([1-9]|10)\.-?[0-9]{1,19}\.[0-9]{1,19}$|^[1-9][0-9]{0,18}$/, 'must be a cursor returned by a previous page')
      .optional()
      .describe('`nextCursor` of the previous page (same filter and sort).'),
  })
  .strict();

/** Query of `GET /tasks/counts`. */
export const taskCountsQuery = z.object(taskFilterFields).omit({ status: true }).strict();

/** `POST /tasks/actions`. */
export const bulkActionBody = z
  .object({
    action: z.enum(['cancel', 'retry', 'promote', 'delete'], 'must be cancel, retry, promote or delete'),
    ids: z.array(taskIdSchema, 'must be an array of task ids').min(1, 'must hold at least one id').max(1000, 'must hold at most 1000 ids').optional(),
    filter: z
      .object({
        queue: taskFilterFields.queue,
        name: taskFilterFields.name,
        status: taskFilterFields.status,
        createdAfter: z.union([dateTime, z.number().int().min(1e11)], 'must be an ISO-8601 date-time with offset, or epoch milliseconds').optional(),
        createdBefore: z.union([dateTime, z.number().int().min(1e11)], 'must be an ISO-8601 date-time with offset, or epoch milliseconds').optional(),
        q: taskFilterFields.q,
      })
      .strict()
      .optional(),
    dryRun: z.boolean('must be true or false').optional(),
  })
  .strict()
  .register(requestComponents, {
    id: 'BulkActionRequest',
    description: 'An action on the listed `ids`, or on every task `filter` matches (the same fields as `GET /tasks`); exactly one of the two. With `dryRun`, only counts.',
  });

/** A rate as sent: `"100/m"` or `{ limit, per }` (seconds), or `null` to remove it. */
function rateBody(message: string) {
  return z
    .union([z.string().regex(/^[0-9]+\/[smh]$/, message), z.object({ limit: z.int(), per: z.number() }).strict()], message)
    .nullable()
    .optional();
}

const groupCap = z.int('must be an integer >= 1').min(1, 'must be an integer >= 1').max(100_000, 'must be at most 100000');

/** `PATCH`-like update of a queue: `POST /queues/{queue}`. */
export const configureQueueBody = z
  .object({
    concurrency: z.int('must be an integer >= 1 or null').min(1, 'must be an integer >= 1 or null').max(100_000, 'must be at most 100000').nullable().optional(),
    rateLimit: rateBody('must be a rate such as "5/s", "100/m", "1000/h", { limit, per }, or null'),
    groupConcurrency: z
      .union(
        [
          groupCap,
          z.object({ default: groupCap.optional(), tiers: z.record(z.string().min(1).max(100), groupCap, 'must map tier names to integers >= 1') }, 'must be an integer >= 1, { default?, tiers }, or null').strict(),
        ],
        'must be an integer >= 1, { default?, tiers: { tier: n } }, or null',
      )
      .nullable()
      .optional()
      .describe('Most running at once per group (enqueue option `group`): one cap, or `{ default?, tiers }` by the enqueue option `groupTier`.'),
    groupRateLimit: rateBody('must be a rate per group such as "5/s", "100/m", "1000/h", { limit, per }, or null').describe('Start rate per group.'),
    fair: z.boolean('must be true, false or null').nullable().optional().describe('Rotate claims among groups with due work (default true).'),
    deadLetter: queueNameSchema.nullable().optional().describe('Queue that receives tasks that fail for good (another queue than this one).'),
  })
  .strict()
  .register(requestComponents, {
    id: 'ConfigureQueueRequest',
    description: 'A queue\'s limits and flow control, as `courier.configureQueue()`; `null` removes a setting, an absent field keeps it.',
  });

/** `POST /schedule-preview`. */
export const schedulePreviewBody = z
  .object({
    cron: z.string().min(1, 'must be a cron expression').max(200, 'must be at most 200 characters'),
    timezone: z.string().min(1).max(100, 'must be at most 100 characters').optional(),
    count: z.int('must be an integer from 1 to 20').min(1, 'must be an integer from 1 to 20').max(20, 'must be an integer from 1 to 20').optional(),
  })
  .strict()
  .register(requestComponents, { id: 'SchedulePreviewRequest', description: 'A cron expression and time zone to check; `count` next runs (default 5).' });

/** Query of `GET /history`. */
export const historyQuery = z
  .object({
    minutes: z.coerce
      .number('must be an integer from 1 to 1440')
      .int('must be an integer from 1 to 1440')
      .min(1, 'must be an integer from 1 to 1440')
      .max(1440, 'must be an integer from 1 to 1440')
      .optional()
      .describe('Minutes back from now (default 60, at most 1440).'),
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
    status: z.enum(['queued', 'running', 'succeeded', 'failed', 'cancelled'], 'must be one of queued, running, succeeded, failed, cancelled').optional(),
    task_name: taskNameSchema.optional(),
    created_after: dateTime.optional(),
    created_before: dateTime.optional(),
    limit: pageLimit.optional(),
    cursor: z.string().refine(isTaskId, 'must be a cursor returned by a previous page').optional(),
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

const taskLinkFields = {
  workflowId: z.string().nullable().describe('Workflow or batch the task belongs to (`GET /workflows/{id}`), or `null`.'),
  step: z.string().nullable().describe('Step name in its workflow, or `null`.'),
  deadFrom: z.string().nullable().describe('Queue the task came from when it was dead-lettered (`POST /redrive` moves it back), or `null`.'),
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
  .object({ tasks: z.array(taskSchema.extend(taskLinkFields)), nextCursor: z.string().nullable() })
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
  .looseObject({
    name: z.string(),
    paused: z.boolean(),
    concurrency: z.int().nullable().describe('Most running at once, cluster-wide; `null` for no limit.'),
    rateLimit: z.object({ limit: z.int(), per: z.number() }).nullable().describe('At most `limit` starts per `per` seconds; `null` for none.'),
    groupConcurrency: z
      .object({ default: z.int().nullable(), tiers: z.record(z.string(), z.int()) })
      .nullable()
      .describe('Most running at once per group: `default` for a group whose tier has no cap of its own (`null`: none), `tiers` by tier; `null` for no caps.'),
    groupRateLimit: z.object({ limit: z.int(), per: z.number() }).nullable().describe('Start rate per group; `null` for none.'),
    fair: z.boolean().nullable().describe('Whether claims rotate among groups; `null` means yes (the default).'),
    deadLetter: z.string().nullable().describe('Queue that receives tasks that fail for good; `null` for none.'),
    updatedAt: at,
  })
  .register(responseComponents, { id: 'QueueSettings', description: 'A queue\'s shared settings, including whether it is paused.' });
/** `GET /queues` response. */
export const queueListSchema = z.object({ queues: z.array(queueSettingsSchema) }).register(responseComponents, { id: 'QueueList' });

/** A schedule (from `listSchedules()`). */
export const scheduleSchema = z
  .looseObject({
    name: z.string(),
    cron: z.string(),
    timezone: z.string(),
    task: z.string(),
    payload: z.unknown(),
    options: z.record(z.string(), z.unknown()),
    backfill: z.int(),
    paused: z.boolean(),
    nextRunAt: at,
    lastRunAt: at.nullable(),
  })
  .register(responseComponents, { id: 'Schedule', description: 'A cron schedule as `listSchedules()` returns it.' });
/** `GET /schedules` response. */
export const scheduleListSchema = z.object({ schedules: z.array(scheduleSchema) }).register(responseComponents, { id: 'ScheduleList' });

/** A worker process (from `workers()`). */
export const workerSchema = z
  .looseObject({
    id: z.string(),
    host: z.string(),
    pid: z.int(),
    queues: z.array(z.string()).nullable().describe('Queues it serves; `null` for all.'),
    concurrency: z.int(),
    version: z.string(),
    running: z.int(),
    startedAt: at,
    lastHeartbeat: at,
    stoppedAt: at.nullable(),
    heartbeatInterval: z.number().describe('Seconds between heartbeats.'),
    state: z.enum(['alive', 'stopped', 'dead']).describe('`dead`: missed three heartbeats.'),
  })
  .register(responseComponents, { id: 'Worker', description: 'A worker process: live, stopped, or dead (missed its heartbeats).' });
/** `GET /workers` response. */
export const workerListSchema = z
  .object({ workers: z.array(workerSchema) })
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
  .looseObject({ channels: z.record(z.string(), z.record(z.string(), z.int())), total: z.record(z.string(), z.int()) })
  .register(responseComponents, { id: 'MessageStatus', description: 'Message counts per channel and status, as `messages.status()` returns them.' });
/** A bulk-send batch. */
export const batchSchema = z
  .looseObject({
    id: z.string(),
    channel: z.string(),
    name: z.string().nullable(),
    total: z.int(),
    completed: z.int(),
    failed: z.int(),
    active: z.int(),
    progress: z.int().describe('Finished share, 0-100.'),
    createdAt: at,
  })
  .register(responseComponents, { id: 'Batch', description: 'A bulk-send batch with progress `{ total, completed, failed, active, progress }`.' });
/** `GET /batches` response. */
export const batchListSchema = z.object({ batches: z.array(batchSchema) }).register(responseComponents, { id: 'BatchList' });

/** `GET /overview` response: everything the dashboard shows, in one request. */
export const overviewSchema = z
  .object({
    now: at,
    refresh: z.number().describe('Seconds between dashboard refreshes.'),
    status: queueStatusSchema,
    countsAt: at.describe('When `status` was read: counts are reused for ten times as long as reading them took.'),
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

/** One attempt of a task in its detail. */
const taskAttemptSchema = z
  .looseObject({
    attempt: z.int(),
    outcome: z.string().describe('`failed` for an attempt that ended in an error; else the task\'s status for its latest attempt.'),
    startedAt: at.nullable(),
    endedAt: at.nullable(),
    durationMs: z.number().nullable(),
    worker: z.string().nullable(),
    error: z.looseObject({ message: z.string(), stack: z.string().optional() }).nullable(),
  })
  .register(responseComponents, { id: 'TaskAttempt', description: 'One attempt, from the stored error history and the current row.' });

/** `GET /tasks/{id}` response: the task with its timeline and retry policy. */
export const taskDetailSchema = z
  .looseObject({
    ...taskFields,
    payload: z.unknown(),
    result: z.unknown(),
    attemptTimeline: z.array(taskAttemptSchema),
    retryPolicy: z.looseObject({
      maxRetries: z.int(),
      retryDelay: z.number().describe('Seconds.'),
      backoff: z.string().nullable().describe('`exponential`, `linear`, `fixed`, or `null` for the definition\'s.'),
      maxDelay: z.number().nullable(),
      timeout: z.number().nullable(),
    }),
    updatedAt: at,
    worker: z.string().nullable().describe('The worker running it now.'),
    ...taskLinkFields,
  })
  .register(responseComponents, { id: 'TaskDetail', description: 'A task with its payload, result, attempts as a timeline, and retry policy.' });

/** `GET /tasks/counts` response. */
export const taskCountsSchema = z
  .object({
    counts: z.record(z.string(), z.int()).describe('Per status of the table, plus `delayed` and `retrying` (parts of `queued`), plus `total`.'),
    approximate: z
      .boolean()
      .describe(
        'Whether some counts are the planner\'s estimates: live and finished tasks are each counted exactly when that takes under 50 ms (a selective filter), else estimated, so counting millions of finished rows stays cheap.',
      ),
    statuses: z.array(z.string()).describe('The statuses the task table allows, in order.'),
    queues: z.array(z.string()).describe('Queues with tasks or settings.'),
    names: z.array(z.string()).describe('Task names registered here or present in the table.'),
  })
  .register(responseComponents, { id: 'TaskCounts', description: 'How many tasks a filter matches, per status.' });

/** `POST /tasks/actions` response. */
export const bulkResultSchema = z
  .object({
    action: z.string(),
    count: z.int().describe('Rows the action applies to (dry run) or changed.'),
    dryRun: z.boolean(),
    batches: z.int().describe('Statements it took.'),
    skipped: z.int().describe('Tasks not retried because another live task holds their key.'),
  })
  .register(responseComponents, { id: 'BulkResult', description: 'Outcome of a bulk action.' });

const seriesSchema = z.object({ succeeded: z.array(z.int()), failed: z.array(z.int()) });
/** `GET /history` response. */
export const historySchema = z
  .object({ start: at, step: z.int(), total: seriesSchema, queues: z.record(z.string(), seriesSchema) })
  .register(responseComponents, { id: 'History', description: 'Finished tasks per minute (oldest first) in total and per queue.' });

/** `POST /schedule-preview` response. */
export const schedulePreviewSchema = z
  .object({ nextRuns: z.array(at) })
  .register(responseComponents, { id: 'SchedulePreview', description: 'The next runs of a cron expression in a time zone.' });

/** Query of `GET /messages`. */
export const messageListQuery = z
  .object({
    channel: z.string().regex(/^[a-z][a-z0-9_]{0,31}$/, 'must be a channel name such as sms, email or whatsapp').optional(),
    status: z.string().regex(/^[a-z_]{1,32}$/, 'must be a message status such as queued, sent, delivered or failed').optional(),
    batch: opaqueIdSchema.optional().describe('Only the messages of this bulk send.'),
    limit: pageLimit.optional(),
    cursor: z.string().regex(/^-?[0-9]{1,19}_[0-9a-f-]{36}$/, 'must be a cursor returned by a previous page').optional(),
  })
  .strict();

/** `GET /messages` response. */
export const messageListSchema = z
  .object({
    messages: z.array(
      z.looseObject({
        id: z.string(),
        channel: z.string(),
        to: z.string(),
        status: z.string(),
        provider: z.string().nullable(),
        batchId: z.string().nullable(),
        taskId: z.string().nullable(),
        attempts: z.int(),
        error: z.object({ code: z.string().nullable(), text: z.string().nullable() }).nullable(),
        subject: z.string().nullable(),
        createdAt: at,
        updatedAt: at,
      }),
    ),
    nextCursor: z.string().nullable(),
  })
  .register(responseComponents, { id: 'MessageList', description: 'A page of messages, newest first, without their bodies.' });

/** `GET /messages/{id}/history` response. */
export const messageHistorySchema = z
  .object({
    attempts: z.array(z.looseObject({ n: z.int(), provider: z.string(), startedAt: at, finishedAt: at.nullable(), outcome: z.string().nullable() })),
    events: z.array(z.looseObject({ source: z.string(), status: z.string().nullable(), applied: z.boolean(), receivedAt: at })),
  })
  .register(responseComponents, { id: 'MessageHistory', description: 'A message\'s send attempts and provider events, oldest first.' });
