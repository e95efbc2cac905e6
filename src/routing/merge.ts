import type { QueueCounts, QueueStatus, TaskPage } from '../manager.js';
import type { Metrics, QueueMetrics } from '../metrics.js';
import type { ProcessorHealth } from '../worker/processor.js';

const COUNT_FIELDS = ['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'total', 'last24h'] as const;
const METRIC_FIELDS = ['waiting', 'queued', 'running', 'succeeded', 'failed', 'cancelled', 'throughput'] as const;

const earlier = (a: Date | null, b: Date | null) => (a === null ? b : b === null || a <= b ? a : b);
const later = (a: Date | null, b: Date | null) => (a === null ? b : b === null || a >= b ? a : b);

function addCounts(a: QueueCounts, b: QueueCounts): QueueCounts {
  const out = { ...a };
  for (const f of COUNT_FIELDS) out[f] = a[f] + b[f];
  out.lastUpdated = later(a.lastUpdated, b.lastUpdated);
  out.oldestQueuedAt = earlier(a.oldestQueuedAt, b.oldestQueuedAt);
  return out;
}

/** Queue counts of several clusters as one: a queue found on two (while it moves) adds up. */
export function mergeQueueStatus(parts: QueueStatus[]): QueueStatus {
  const [first, ...rest] = parts as [QueueStatus, ...QueueStatus[]];
  const queues = { ...first.queues };
  let total = first.total;
  for (const part of rest) {
    for (const [name, counts] of Object.entries(part.queues)) queues[name] = queues[name] ? addCounts(queues[name], counts) : counts;
    total = addCounts(total, part.total);
  }
  return { queues: Object.fromEntries(Object.entries(queues).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))), total };
}

/**
 * Pages of several clusters, each read with the same filters, `limit` and
 * cursor, as one page in the order every page is in (id, descending). Ids are
 * unique across clusters, so the last id kept is a cursor for all of them.
 */
export function mergeTaskPages(parts: TaskPage[], limit: number): TaskPage {
  const all = parts.flatMap((p) => p.tasks).sort((a, b) => (BigInt(b.id) > BigInt(a.id) ? 1 : -1));
  const tasks = all.slice(0, limit);
  const more = all.length > limit || parts.some((p) => p.nextCursor !== null);
  return { tasks, nextCursor: more && tasks.length > 0 ? (tasks.at(-1)?.id as string) : null };
}

/** Gauges of several clusters as one; the process counters are the first part's (they count this process). */
export function mergeMetrics(parts: Metrics[]): Metrics {
  const [first, ...rest] = parts as [Metrics, ...Metrics[]];
  const queues: Record<string, QueueMetrics> = { ...first.queues };
  for (const part of rest) {
    for (const [name, m] of Object.entries(part.queues)) {
      const had = queues[name];
      if (!had) {
        queues[name] = m;
        continue;
      }
      const sum = { ...had, oldestQueuedAge: Math.max(had.oldestQueuedAge, m.oldestQueuedAge) };
      for (const f of METRIC_FIELDS) sum[f] = had[f] + m[f];
      queues[name] = sum;
    }
  }
  return { ...first, queues };
}

/** The health of one processor per cluster as one: ok only when every one is. */
export function mergeHealth(parts: ProcessorHealth[]): ProcessorHealth {
  const [first, ...rest] = parts as [ProcessorHealth, ...ProcessorHealth[]];
  return rest.reduce(
    (a, b) => ({
      ok: a.ok && b.ok,
      running: a.running && b.running,
      listening: a.listening && b.listening,
      claiming: a.claiming && b.claiming,
      beating: a.beating && b.beating,
      lastClaimAt: earlier(a.lastClaimAt, b.lastClaimAt),
      lastHeartbeatAt: earlier(a.lastHeartbeatAt, b.lastHeartbeatAt),
      active: a.active + b.active,
    }),
    first,
  );
}
