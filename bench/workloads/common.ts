import { statementDelta } from '../postgres.js';
import { now, sleep, until } from '../stats.js';
import { Tracker } from '../tracker.js';
import type { BenchPayload, JobResult, PeerInstance } from '../types.js';
import type { Measurement, WorkloadContext } from './workload.js';

/** Runs `fn` on the peer opened in a fresh database, then closes it and drops the database. */
export async function inFreshDatabase<T>(ctx: WorkloadContext, fn: (instance: PeerInstance, url: string) => Promise<T>): Promise<T> {
  const url = await ctx.server.freshDatabase(ctx.peer.name);
  try {
    const instance = await ctx.peer.open(url);
    try {
      return await fn(instance, url);
    } finally {
      await instance.close();
    }
  } finally {
    const left = await ctx.server.drop(url);
    if (left.length) ctx.log(`  ${ctx.peer.name}: ${left.length} connection(s) still open 3 s after close: ${left.join(' | ')}`);
  }
}

export function payloads(from: number, count: number, pad?: string): BenchPayload[] {
  return Array.from({ length: count }, (_, k) => (pad === undefined ? { i: from + k, t: 0 } : { i: from + k, t: 0, pad }));
}

/**
 * 1,002 characters of varied text: `{"i":…,"t":0,"pad":"…"}` is ~1 KB of JSON, and
 * `{"ok":true,"pad":"…"}` too. Below Postgres's 2 KB TOAST threshold, so stored inline.
 */
export const PAD_1K: string = Array.from({ length: 1_002 }, (_, k) => 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789'[(k * 7919) % 62]).join('');

/** The 1 KB result a drain_result1k handler returns (the same object for every job). */
export const RESULT_1K: JobResult = Object.freeze({ ok: true, pad: PAD_1K });

/** Enqueues jobs 0…count-1 through the bulk API in batches (not timed). */
export async function preload(instance: PeerInstance, count: number, batch = 1_000, pad?: string): Promise<void> {
  for (let from = 0; from < count; from += batch) await instance.enqueueMany(payloads(from, Math.min(batch, count - from), pad));
}

/** Waits until the peer has recorded every job as finished. */
export async function settled(instance: PeerInstance, timeoutMs = 60_000): Promise<void> {
  await until(async () => (await instance.outstanding()) === 0, timeoutMs, 'every completion to be recorded', 20);
}

/** What a drain measured. */
export interface DrainResult {
  rate: number;
  error: string | undefined;
  statements: Array<{ query: string; calls: number; rows: number; ms: number }>;
}

/**
 * Drains `count` pre-loaded jobs with one consumer: jobs per second from the
 * first job's start to the last job's end. Completion writes are then awaited
 * (untimed) and checked, as is that each job ran exactly once.
 */
export async function drain(
  ctx: WorkloadContext,
  instance: PeerInstance,
  url: string,
  options: { count: number; concurrency: number; work?: () => Promise<void>; preloaded?: boolean; pad?: string; result?: JobResult },
): Promise<DrainResult> {
  if (!options.preloaded) await preload(instance, options.count, 1_000, options.pad);
  const before = await ctx.server.statements(url);
  const tracker = new Tracker(options.count);
  const results = options.result !== undefined;
  const handler = tracker.handler(options.work, options.result);
  // With a padded payload, every handler also checks that the payload arrived whole.
  let wrongPayloads = 0;
  const pad = options.pad;
  const checked: typeof handler = pad === undefined ? handler : (payload) => {
          if (payload.pad !== pad) wrongPayloads++;
          return handler(payload);
        };
  const consumer = await instance.startConsumer({ concurrency: options.concurrency, handler: checked, ...(results ? { results } : {}) });
  let error: string | undefined;
  try {
    await until(() => tracker.finished >= options.count, drainTimeout(options.count), `${options.count} jobs to run`);
    await settled(instance);
  } catch (err) {
    error = (err as Error).message;
  }
  await consumer.stop();
  await sleep(50);
  const after = await ctx.server.statements(url);
  error ??= tracker.verify() ?? undefined;
  if (!error && wrongPayloads > 0) error = `${wrongPayloads} jobs ran with a payload other than the one enqueued`;
  if (!error && results && instance.storedResults) {
    const stored = await instance.storedResults();
    if (stored !== options.count) error = `${stored} results stored for ${options.count} jobs`;
  }
  return { rate: options.count / ((tracker.lastEnd - tracker.firstStart) / 1000), error, statements: statementDelta(before, after) };
}

/** Generous: 200 jobs/s at the least, and never under a minute. */
export function drainTimeout(count: number): number {
  return Math.max(60_000, (count / 200) * 1000);
}

export function throughput(row: string, result: DrainResult): Measurement {
  return { row, unit: 'jobs/s', better: 'higher', value: result.rate, ...(result.error ? { error: result.error } : {}) };
}

/** Statements per job, from a drain's pg_stat_statements delta. */
export function statementsPerJob(row: string, result: DrainResult, jobs: number): Measurement {
  const calls = result.statements.reduce((a, s) => a + s.calls, 0);
  return { row, unit: 'statements/job', better: 'lower', value: calls / jobs };
}

/** Sleeps until `at` (epoch ms). */
export async function sleepUntil(at: number): Promise<void> {
  const wait = at - now();
  if (wait > 0) await sleep(wait);
}
