/**
 * pgcourier's core: the courier, tasks, queues, schedules, maintenance, events,
 * metrics and errors. Messaging is the plugin at `pgcourier/messages`, the HTTP
 * API and dashboard are at `pgcourier/http`, test helpers at `pgcourier/testing`;
 * importing this entry loads none of them.
 *
 * @module
 */
export type { ClusterEventMap, ClusterEventName, ClusterTaskEvent, TaskInfoOf, WaitForTaskOptions } from './cluster-events.js';
export { ClusterEvents } from './cluster-events.js';
export type { CourierOptions, CourierWith, RunOnceOptions, StartOptions, StopOptions } from './courier.js';
export { Courier, createCourier } from './courier.js';
export type { SqlNames } from './db/names.js';
export type { TaskErrorEntry, TaskStatus } from './db/types.js';
export { closeDefaultCourier, configure, defaultRegistry, enqueueTask, getDefaultCourier, registerTask } from './default.js';
export type { DoctorCheck } from './doctor.js';
export type { CourierErrorCode } from './errors.js';
export {
  ConflictError,
  CourierError,
  LeaseLostError,
  NotFoundError,
  NotMigratedError,
  PermanentError,
  RetryAfter,
  retryAfter,
  ShutdownError,
  StateError,
  TaskTimeoutError,
  UnknownTaskError,
  ValidationError,
  WaitTimeoutError,
} from './errors.js';
export type { CourierEventMap, CourierEventName, TaskEventBase } from './events.js';
export { CourierEvents } from './events.js';
export type { RedriveFilter } from './flow/redrive.js';
export type { Acquired, Rate, RateLimiter, RateLimitSpec } from './limits/rate-limiter.js';
export type { WorkerInfo } from './maintenance/heartbeat.js';
export type { EnqueueItem, EnqueueItems, EnqueueOptions, ListTasksOptions, QueueCounts, QueueStatus, TaskPage } from './manager.js';
export { TaskManager } from './manager.js';
export type { Metrics, ProcessCounters, QueueMetrics } from './metrics.js';
export type {
  CourierPlugin,
  PluginApi,
  PluginApis,
  PluginCleanupReport,
  PluginExtensions,
  PluginHost,
  PluginInstance,
  PluginMigration,
} from './plugins.js';
export type { GroupConcurrency, QueueOptions, QueueSettings } from './queues.js';
export type { DefineTaskInput, PayloadOf, RegisterOptions, TaskContext, TaskDefaults, TaskDefinition, TaskHandler, TaskTypeOptions } from './registry.js';
export { defineTask, TaskRegistry } from './registry.js';
export type { ClusterOptions } from './routing/options.js';
export type { ClusterDatabase } from './routing/task-list.js';
export type { CleanupOptions, FinishedStatus } from './scheduler/cleanup.js';
export type { ScheduleInfo, ScheduleOptions } from './scheduler/schedules.js';
export type { TaskInfo } from './task-info.js';
export type { Backoff, BackoffKind } from './worker/backoff.js';
export type { ProcessorHealth } from './worker/processor.js';
export type { BatchCallback, BatchOptions, EnqueuedBatch } from './workflow/batch.js';
export type { EnqueuedWorkflow, StepOptions, StepParent } from './workflow/builder.js';
export { WorkflowBuilder } from './workflow/builder.js';
export type { EdgePolicy } from './workflow/graph.js';
export type { WorkflowInfo, WorkflowProgress, WorkflowStep } from './workflow/read.js';
export type { BatchSummary } from './workflow/schemas.js';
export { batchSummarySchema } from './workflow/schemas.js';
