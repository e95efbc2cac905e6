import type { BenchServer } from '../postgres.js';
import type { Peer } from '../types.js';

/** Sizes of every workload; `--quick` shrinks them. */
export interface Sizes {
  enqueueSingle: number;
  enqueueBulk: number;
  bulkBatch: number;
  drain: number;
  drainIo: number;
  ioMs: number;
  drain2proc: number;
  /** Jobs of drain_2proc_backlog. */
  drain2procBacklog: number;
  /** Jobs drained at each step of workers_scaling. */
  workersScaling: number;
  latencySeconds: number;
  latencyEveryMs: number;
  steadySeconds: number;
  idleSeconds: number;
  idleWorkers: number;
  historyRows: number;
  historyDrain: number;
  memoryTasks: number;
}

export const FULL_SIZES: Sizes = {
  enqueueSingle: 5_000,
  enqueueBulk: 50_000,
  bulkBatch: 1_000,
  drain: 20_000,
  drainIo: 5_000,
  ioMs: 20,
  drain2proc: 20_000,
  drain2procBacklog: 200_000,
  workersScaling: 20_000,
  latencySeconds: 10,
  latencyEveryMs: 20,
  steadySeconds: 30,
  idleSeconds: 30,
  idleWorkers: 4,
  historyRows: 1_000_000,
  historyDrain: 20_000,
  memoryTasks: 1_000_000,
};

export const QUICK_SIZES: Sizes = {
  enqueueSingle: 300,
  enqueueBulk: 5_000,
  bulkBatch: 1_000,
  drain: 2_000,
  drainIo: 500,
  ioMs: 20,
  drain2proc: 1_000,
  drain2procBacklog: 5_000,
  workersScaling: 1_000,
  latencySeconds: 1.5,
  latencyEveryMs: 20,
  steadySeconds: 3,
  idleSeconds: 3,
  idleWorkers: 4,
  historyRows: 20_000,
  historyDrain: 1_000,
  memoryTasks: 20_000,
};

/** One figure of one peer in one round. */
export interface Measurement {
  /** Table row, e.g. `drain_noop c=10`. */
  row: string;
  unit: string;
  /** Which way is better; `info` rows get no ratio. */
  better: 'higher' | 'lower' | 'info';
  value: number;
  /** Set when the run did not hold: a job that ran twice or never, a timeout. */
  error?: string;
  detail?: Record<string, unknown>;
}

/** State shared by the workloads of one run. */
export interface RunNotes {
  /** drain_noop c=10 rates per peer, for `steady`. */
  drainRates: Map<string, number[]>;
  /** Statement profiles, for the report. */
  profiles: Array<{ peer: string; row: string; round: number; jobs: number; statements: Array<{ query: string; calls: number; rows: number; ms: number }> }>;
}

export interface WorkloadContext {
  server: BenchServer;
  peer: Peer;
  round: number;
  sizes: Sizes;
  notes: RunNotes;
  log(message: string): void;
}

/**
 * A workload: `prepare` once per peer before the rounds, then `run` for each
 * peer in turn, round after round (A B A B), then `cleanup`.
 */
export interface Workload<S = unknown> {
  name: string;
  description: string;
  prepare?(ctx: WorkloadContext): Promise<S>;
  run(ctx: WorkloadContext, state: S): Promise<Measurement[]>;
  /** Measures every peer in the same window instead of one after another (for idle counts). */
  runTogether?(ctxs: WorkloadContext[]): Promise<Measurement[][]>;
  cleanup?(ctx: WorkloadContext, state: S): Promise<void>;
}
