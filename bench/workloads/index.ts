import { drain2proc } from './drain-2proc.js';
import { drainIo } from './drain-io.js';
import { drainNoop } from './drain-noop.js';
import { enqueueBulk } from './enqueue-bulk.js';
import { enqueueSingle } from './enqueue-single.js';
import { history } from './history.js';
import { idle } from './idle.js';
import { latency } from './latency.js';
import { memory } from './memory.js';
import { steady } from './steady.js';
import type { Workload } from './workload.js';

/** Every workload in run order; drain_noop comes before steady, which reuses its rates. */
export const WORKLOADS: Workload<any>[] = [enqueueSingle, enqueueBulk, drainNoop, drainIo, drain2proc, latency, steady, idle, history, memory];

/** Workloads a plain `npm run bench` runs (memory is long and runs only when named). */
export const DEFAULT_WORKLOADS = WORKLOADS.filter((w) => w !== memory).map((w) => w.name);
