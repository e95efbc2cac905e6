import type { SqlNames } from '../db/names.js';

/**
 * The quoted SQL names of messaging's tables (and the core's `tasks`), built once
 * per courier from its {@link SqlNames}: the one naming rule, applied to the
 * plugin's own tables. Statements interpolate `names.messages`, `names.batches`, ….
 */
export interface MessageNames {
  readonly messages: string;
  readonly batches: string;
  readonly attempts: string;
  readonly events: string;
  readonly suppressions: string;
  readonly gates: string;
  readonly submissions: string;
  readonly inbound: string;
  /** The `message_status_rank(status)` function. */
  readonly statusRank: string;
  /** The core's task table (send tasks are joined for their retry budget). */
  readonly tasks: string;
}

/** Builds the {@link MessageNames} of a courier's schema. */
export function messageNames(names: SqlNames): MessageNames {
  return Object.freeze({
    messages: names.table('messages'),
    batches: names.table('message_batches'),
    attempts: names.table('message_attempts'),
    events: names.table('message_events'),
    suppressions: names.table('suppressions'),
    gates: names.table('provider_gates'),
    submissions: names.table('submissions'),
    inbound: names.table('inbound_messages'),
    statusRank: names.table('message_status_rank'),
    tasks: names.tasks,
  });
}
