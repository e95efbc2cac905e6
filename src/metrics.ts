import type { SqlNames } from './db/names.js';
import type { Queryable } from './db/pool.js';
import type { CourierEvents } from './events.js';

/** Per-queue gauges read from the database. */
export interface QueueMetrics {
  /** Tasks whose parents have not all finished. */
  waiting: number;
  queued: number;
  running: number;
  succeeded: number;
  failed: number;
  cancelled: number;
  /** Seconds the oldest due, still-queued task has waited (0 when none). */
  oldestQueuedAge: number;
  /** Tasks finished per second over the last minute. */
  throughput: number;
}

/** Counters of this process since it created its courier. */
export interface ProcessCounters {
  enqueued: number;
  started: number;
  succeeded: number;
  failed: number;
  retried: number;
  rescued: number;
  errors: number;
}

/** What `courier.metrics()` returns. */
export interface Metrics {
  /** Gauges per queue. */
  queues: Record<string, QueueMetrics>;
  /** This process's counters. */
  process: ProcessCounters;
  /** When the gauges were read. */
  collectedAt: Date;
}

/** Counts this process's task events. */
export function countEvents(events: CourierEvents): ProcessCounters {
  const c: ProcessCounters = { enqueued: 0, started: 0, succeeded: 0, failed: 0, retried: 0, rescued: 0, errors: 0 };
  events.on('task:enqueued', (e) => void (c.enqueued += e.ids.length));
  events.on('task:started', () => void c.started++);
  events.on('task:succeeded', () => void c.succeeded++);
  events.on('task:failed', () => void c.failed++);
  events.on('task:retrying', () => void c.retried++);
  events.on('task:rescued', (e) => void (c.rescued += e.ids.length));
  events.on('worker:error', () => void c.errors++);
  return c;
}

/** Reads per-queue gauges in one statement. */
export async function collectMetrics(db: Queryable, names: SqlNames, counters: ProcessCounters): Promise<Metrics> {
  const { rows } = await db.query<{ queue: string } & Record<keyof QueueMetrics, number>>(
    `SELECT queue,
            count(*) FILTER (WHERE status = 'waiting')::int AS waiting,
            count(*) FILTER (WHERE status = 'queued')::int AS queued,
            count(*) FILTER (WHERE status = 'running')::int AS running,
            count(*) FILTER (WHERE status = 'succeeded')::int AS succeeded,
            count(*) FILTER (WHERE status = 'failed')::int AS failed,
            count(*) FILTER (WHERE status = 'cancelled')::int AS cancelled,
            coalesce(extract(epoch FROM now() - min(run_at) FILTER (WHERE status = 'queued' AND run_at <= now())), 0)::float8 AS "oldestQueuedAge",
            (count(*) FILTER (WHERE finished_at > now() - interval '60 seconds') / 60.0)::float8 AS throughput
       FROM ${names.tasks} GROUP BY queue ORDER BY queue`,
  );
  const queues: Record<string, QueueMetrics> = {};
  for (const { queue, ...m } of rows) queues[queue] = m;
  return { queues, process: { ...counters }, collectedAt: new Date() };
}

/** Renders metrics in the Prometheus text exposition format. */
export function renderPrometheus(m: Metrics): string {
  const lines: string[] = [];
  const gauge = (name: string, help: string, pick: (q: QueueMetrics) => number) => {
    lines.push(`# HELP pgcourier_${name} ${help}`, `# TYPE pgcourier_${name} gauge`);
    for (const [queue, q] of Object.entries(m.queues)) lines.push(`pgcourier_${name}{queue="${escapeLabel(queue)}"} ${pick(q)}`);
  };
  lines.push('# HELP pgcourier_tasks Tasks in the table by queue and status.', '# TYPE pgcourier_tasks gauge');
  for (const [queue, q] of Object.entries(m.queues)) {
    for (const status of ['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled'] as const) {
      lines.push(`pgcourier_tasks{queue="${escapeLabel(queue)}",status="${status}"} ${q[status]}`);
    }
  }
  gauge('oldest_queued_age_seconds', 'Age of the oldest due queued task.', (q) => q.oldestQueuedAge);
  gauge('throughput_per_second', 'Tasks finished per second over the last minute.', (q) => q.throughput);
  for (const [key, value] of Object.entries(m.process)) {
    lines.push(`# HELP pgcourier_process_${key}_total Task events of this process.`, `# TYPE pgcourier_process_${key}_total counter`, `pgcourier_process_${key}_total ${value}`);
  }
  return `${lines.join('\n')}\n`;
}

function escapeLabel(v: string): string {
  return v.replace(/[\\"\n]/g, (c) => (c === '\n' ? '\\n' : `\\${c}`));
}
