import { drain2proc, drain2procBacklog } from './drain-2proc.js';
import { drainIo } from './drain-io.js';
import { drainNoop, drainPayload1k, drainResult1k } from './drain-noop.js';
import { enqueueBulk } from './enqueue-bulk.js';
import { enqueueSingle } from './enqueue-single.js';
import { history } from './history.js';
import { idle } from './idle.js';
import { latency } from './latency.js';
import { memory } from './memory.js';
import { steady50, steady70 } from './steady.js';
import { workersScaling } from './workers-scaling.js';
import type { Workload } from './workload.js';

/** Every workload in run order; drain_noop comes before steady70/steady50, which reuse its rates. */
export const WORKLOADS: Workload<any>[] = [
  enqueueSingle,
  enqueueBulk,
  drainNoop,
  drainPayload1k,
  drainResult1k,
  drainIo,
  drain2proc,
  drain2procBacklog,
  latency,
  steady70,
  steady50,
  idle,
  history,
  memory,
  workersScaling,
];

/** Workloads a plain `npm run bench` runs (memory and workers_scaling are long and run only when named). */
export const DEFAULT_WORKLOADS = WORKLOADS.filter((w) => w !== memory && w !== workersScaling).map((w) => w.name);

/**
 * Names `--only=` also accepts, each standing for several workloads. `targets` is
 * what issue 11's targets are measured on (drain_noop covers c=10 and c=50; memory
 * stays a run of its own, `--only=memory`).
 */
export const ALIASES: Record<string, string[]> = {
  targets: ['drain_noop', 'drain_2proc', 'drain_2proc_backlog', 'latency', 'steady50', 'idle', 'history', 'enqueue_single', 'drain_payload1k', 'drain_result1k'],
  steady: ['steady70', 'steady50'],
  drains: ['drain_noop', 'drain_payload1k', 'drain_result1k'],
};
