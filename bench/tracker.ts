import { now } from './stats.js';
import type { BenchPayload, JobHandler, JobResult } from './types.js';

/**
 * Counts every run of every job of one measurement, so a workload can check
 * that each job ran exactly once, and records when runs started and ended.
 */
export class Tracker {
  readonly runs: Uint8Array;
  started = 0;
  finished = 0;
  firstStart = Number.NaN;
  lastEnd = Number.NaN;
  /** enqueue→start delays in ms, indexed by job (when `latency` is on). */
  readonly delays: Float64Array | undefined;

  constructor(
    readonly expected: number,
    options: { latency?: boolean } = {},
  ) {
    this.runs = new Uint8Array(expected);
    this.delays = options.latency ? new Float64Array(expected).fill(Number.NaN) : undefined;
  }

  /** A handler that records each run, then does `work`, then returns `result` (the same object every time). */
  handler(work?: () => Promise<void>, result?: JobResult): JobHandler {
    return async (payload: BenchPayload) => {
      const t = now();
      this.started++;
      if (Number.isNaN(this.firstStart)) this.firstStart = t;
      if (payload.i >= 0 && payload.i < this.expected) {
        if (this.runs[payload.i] !== 255) this.runs[payload.i] = (this.runs[payload.i] as number) + 1;
        if (this.delays && Number.isNaN(this.delays[payload.i] as number)) this.delays[payload.i] = t - payload.t;
      }
      if (work) await work();
      this.finished++;
      this.lastEnd = now();
      return result;
    };
  }

  /** Merges the run counts another process reported. */
  merge(runs: Uint8Array, started: number, firstStart: number): void {
    for (let i = 0; i < this.expected; i++) this.runs[i] = Math.min(255, (this.runs[i] as number) + (runs[i] as number));
    this.started += started;
    this.finished += started;
    if (!(this.firstStart <= firstStart)) this.firstStart = firstStart;
  }

  /** `null` when every job ran exactly once, else what went wrong. */
  verify(): string | null {
    let missing = 0;
    let doubled = 0;
    for (const n of this.runs) {
      if (n === 0) missing++;
      else if (n > 1) doubled++;
    }
    if (missing === 0 && doubled === 0 && this.started === this.expected) return null;
    return `${missing} never ran, ${doubled} ran more than once, ${this.started} runs for ${this.expected} jobs`;
  }

  /** The recorded delays of jobs that ran. */
  latencies(): number[] {
    return this.delays ? Array.from(this.delays).filter(Number.isFinite) : [];
  }
}
