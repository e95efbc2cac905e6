import type { Courier } from '../courier.js';

/**
 * What the HTTP handler needs from a courier: the public methods its routes call,
 * checked by the compiler. Any {@link Courier} is one.
 */
export type HttpCourier = Pick<
  Courier,
  | 'logger'
  | 'pool'
  | 'names'
  | 'databases'
  | 'registry'
  | 'enqueueTask'
  | 'enqueueMany'
  | 'getTask'
  | 'getWorkflow'
  | 'listTasks'
  | 'cancel'
  | 'retry'
  | 'promote'
  | 'deleteTask'
  | 'queueStatus'
  | 'listQueues'
  | 'configureQueue'
  | 'pauseQueue'
  | 'resumeQueue'
  | 'redrive'
  | 'schedule'
  | 'listSchedules'
  | 'pauseSchedule'
  | 'resumeSchedule'
  | 'removeSchedule'
  | 'metricsText'
  | 'workers'
  | 'health'
  | 'ping'
  | 'extensions'
>;
