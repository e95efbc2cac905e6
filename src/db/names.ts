import { quoteIdent } from './pool.js';

/**
 * The quoted SQL names of one courier's schema objects, built once per courier and
 * passed to every module that writes SQL. The one naming rule: statements
 * interpolate `names.tasks`, `names.queues`, …; nothing else quotes identifiers.
 */
export interface SqlNames {
  /** The schema as given (unquoted), for messages and advisory-lock keys. */
  readonly schemaName: string;
  /** The quoted schema, e.g. `"pgcourier"`. */
  readonly schema: string;
  readonly tasks: string;
  readonly queues: string;
  readonly rateLimits: string;
  readonly schedules: string;
  readonly scheduleRuns: string;
  readonly workers: string;
  readonly migrations: string;
  /** Processes listening to {@link SqlNames.events}; outcomes are announced only while one is live. */
  readonly eventListeners: string;
  /** The LISTEN/NOTIFY channel of task wake-ups (a plain string, passed as a parameter). */
  readonly channel: string;
  /** The LISTEN/NOTIFY channel of cluster-wide task events (finished, retrying, cancelled); see `db/announce.ts`. */
  readonly events: string;
  /** Quoted name of any other table of the schema (for plugins' own tables). */
  table(name: string): string;
}

/** Builds the {@link SqlNames} of `schema` (already validated as an identifier). */
export function sqlNames(schema: string): SqlNames {
  const q = quoteIdent(schema);
  const table = (name: string) => `${q}.${quoteIdent(name)}`;
  return Object.freeze({
    schemaName: schema,
    schema: q,
    tasks: `${q}.tasks`,
    queues: `${q}.queues`,
    rateLimits: `${q}.rate_limits`,
    schedules: `${q}.schedules`,
    scheduleRuns: `${q}.schedule_runs`,
    workers: `${q}.workers`,
    migrations: `${q}.migrations`,
    eventListeners: `${q}.event_listeners`,
    channel: `${schema}.tasks`,
    events: `${schema}.events`,
    table,
  });
}
